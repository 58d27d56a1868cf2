"""rdbench: benchmarking and rate-distortion analysis for learned image compression.

Data flows one way: dataset -> codec -> record -> store -> analysis -> table/plot.
"""

__version__ = "0.1.0"
