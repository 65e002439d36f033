"""aisim kernels: pure array functions over (paths, agents) and (paths, contracts) state.

Every function takes its array namespace ``xp`` as an argument (NumPy, CuPy or any array-API
namespace). Only :mod:`aisim.kernels.backend` imports CuPy. Nothing here imports the rest of
``aisim``, Mesa or Hydra; kernels import each other relatively.
"""
