"""The names of the files in a sweep directory; light, so the report can read a sweep without the sweep machinery."""

SWEEP_FILE = "sweep.json"
SWEEP_YAML = "sweep.yaml"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
