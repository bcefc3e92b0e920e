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
