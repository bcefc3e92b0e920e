"""Shared test setup: no test writes into the repository's runs/ folder, and TensorFlow's
C++ logging stays quiet."""
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "LRVIZ_HOME" not in os.environ:
    os.environ["LRVIZ_HOME"] = tempfile.mkdtemp(prefix="lrviz-tests-")
