import sys
from pathlib import Path

# train_tiny_task registers the test model and dataset; it is imported by name so that the DDP
# test's worker processes (which get this folder on PYTHONPATH) register the very same classes.
sys.path.insert(0, str(Path(__file__).parent))
