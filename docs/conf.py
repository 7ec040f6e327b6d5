"""Sphinx configuration of the skc2bin documentation.

Build with ``docs/build.sh`` (HTML, warnings as errors, gallery examples
executed) or ``docs/build.sh --no-gallery`` (the gallery pages are generated
without running the examples).
"""

import sys
from pathlib import Path

import skc2bin

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

project = "skc2bin"
author = "skc2bin developers"
copyright = "skc2bin developers"
release = skc2bin.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
templates_path = ["_templates"]

# -- API reference ----------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Every public object of skc2bin's user-facing modules must document all its
# parameters (PR01, PR02), its return value (RT01) and carry an Examples
# section (EX01); violations are warnings, which the build turns into errors.
numpydoc_validation_checks = {"PR01", "PR02", "RT01", "EX01"}
numpydoc_validation_exclude = {
    # Methods inherited from scikit-learn, documented there.
    r"\.fit_predict$", r"\.fit_transform$", r"\.get_feature_names_out$", r"\.get_params$",
    r"\.set_params$", r"\.set_output$", r"\.get_metadata_routing$", r"\.set_\w+_request$",
    # Building blocks documented for reference (and for custom backbones and
    # augmentations), without Examples of their own.
    r"^skc2bin\.networks\.", r"^skc2bin\.losses\.", r"^skc2bin\.augment\.",
    # Methods and properties of the estimator shown by the class's Examples
    # (as in scikit-learn, whose estimators keep examples on the class: one
    # fitted estimator instead of a full fit repeated in every method).
    r"^skc2bin\.C2BINClusterer\.(predict|predict_per_scale|predict_proba|transform|score|partial_fit|load"
    r"|device_|history_|n_features_out_)$",
    # Exception classes and module pages.
    r"^skc2bin\.TrainingDivergedError", r"^skc2bin\.DistributedError", r"^skc2bin\.(metrics|plotting|networks|losses|augment)$",
}

# -- Gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    # Only plot_*.py are executed; cifar10_gpu.py (GPU + CIFAR-10 images) is
    # shown with its code but never run.
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skc2bin",),
    "reference_url": {"skc2bin": None},
    "abort_on_example_error": True,
    "min_reported_time": 0,
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
}

# -- Figures drawn at build time (``.. plot::``) ------------------------------
plot_basedir = str(DOCS)
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]

# -- Markdown pages (method.md, benchmarks.md, reliability.md) ----------------
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skc2bin {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
