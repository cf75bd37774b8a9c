export CPDEMO_ACTIVE=1
export CPDEMO_HOME="${CONDA_PREFIX}/share/cpdemo-1.0"
