"""Where the course lives: the one place to change when the kit is forked or moved.

Colab badges, the Colab setup cell of every notebook and the README's links are all
rendered from these values by ``course-grade release``.
"""

from pathlib import Path

# The public GitHub repository students install from in Colab ("owner/name").
GITHUB_REPO = "nnfp-course/course-kit"
BRANCH = "main"

REPO_URL = f"https://github.com/{GITHUB_REPO}"
GIT_URL = f"{REPO_URL}.git"

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
AUTOGRADER_DIR = PACKAGE_DIR  # the grader's code (never a course directory)
# The repository's own course directory (nbgrader's layout: nbgrader_config.py, source/,
# and, once an instructor works in it, release/, submitted/, autograded/, gradebook.db).
COURSE_DIR = ROOT / "course"
# The kit's instructor sources and nbgrader config, the data `course-grade init` copies: in
# an installed wheel they ship inside the package (autograder/kit/), in a checkout they are
# the repository's course directory.
_SHIPPED_KIT = PACKAGE_DIR / "kit"
KIT_DIR = _SHIPPED_KIT if (_SHIPPED_KIT / "source").is_dir() else COURSE_DIR
SOURCE_DIR = KIT_DIR / "source"  # instructor versions: source/<id>/<id>.ipynb
NOTEBOOKS_DIR = ROOT / "notebooks"  # generated student versions: notebooks/<id>.ipynb


def colab_url(notebook_id: str) -> str:
    """The "Open in Colab" address of a student notebook."""
    return (f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/"
            f"notebooks/{notebook_id}.ipynb")


def colab_badge(notebook_id: str) -> str:
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook_id)})")
