"""lrviz: `streamlit run app.py`. The page is the lrviz.page package."""
from lrviz.page import main

main()
