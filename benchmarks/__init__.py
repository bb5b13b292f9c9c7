
import deepstudy  # noqa: F401  first, before torch or NumPy load: it picks OpenBLAS's kernels (see deepstudy/__init__.py)
