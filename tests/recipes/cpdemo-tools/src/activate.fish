set -gx CPDEMO_ACTIVE 1
set -gx CPDEMO_HOME "$CONDA_PREFIX/share/cpdemo-1.0"
