import sys
from pathlib import Path

# tests import the naive twins as `naive`
sys.path.insert(0, str(Path(__file__).parent))
