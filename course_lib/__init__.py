"""course_lib: what a student's kernel imports, in JupyterLab and in Colab alike.

Submodules are imported on demand so that ``import course_lib`` stays fast and needs only
numpy: ``course_lib.data`` (datasets), ``course_lib.gradcheck`` (numerical gradients),
``course_lib.checks`` (the embedded grader), ``course_lib.viz`` (plots).
"""

__version__ = "0.1.0"
