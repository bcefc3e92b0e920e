"""lrviz: see, train and compare learning-rate decay for Adam in Keras 3.

Nothing imported here loads TensorFlow or Streamlit; training lives in worker processes.
"""
__version__ = "0.1.0"
