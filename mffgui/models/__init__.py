"""torch networks and their weights. Importing this package does not import torch."""
