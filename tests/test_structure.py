"""The layout the architecture promises: only the page package imports Streamlit, and the
script Streamlit runs is the page's one call."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "lrviz" / "page"


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_page_package_imports_streamlit():
    outside = [p.relative_to(ROOT) for p in (ROOT / "lrviz").rglob("*.py")
               if PAGE not in p.parents and "streamlit" in imported(p)]
    assert outside == []


def test_app_py_is_the_pages_one_call():
    code = [line for line in (ROOT / "app.py").read_text().splitlines() if line and not line.startswith(('"""', "#"))]
    assert code == ["from lrviz.page import main", "main()"]


def compared_names(path: Path) -> set[str]:
    """Text constants a comparison tests against (x == "a", x in ("a", "b"), ...)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                out |= {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
    return out


def test_only_the_catalogue_branches_on_a_schedule_family():
    from lrviz.schedules import FAMILIES

    catalogue = ROOT / "lrviz" / "schedules"
    outside = {str(p.relative_to(ROOT)): compared_names(p) & set(FAMILIES) for p in (ROOT / "lrviz").rglob("*.py")
               if catalogue not in p.parents}
    assert {path: ids for path, ids in outside.items() if ids} == {}


def test_only_the_dataset_registry_branches_on_a_dataset():
    from lrviz.data import DATASETS

    names = set(DATASETS) - {d.task for d in DATASETS.values()}  # "regression" is a task too
    outside = {str(p.relative_to(ROOT)): compared_names(p) & names for p in (ROOT / "lrviz").rglob("*.py")
               if p.name != "data.py"}
    assert {path: ids for path, ids in outside.items() if ids} == {}
