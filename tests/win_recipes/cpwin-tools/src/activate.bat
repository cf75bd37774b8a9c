@set "CPWIN_ACTIVE=1"
@set "CPWIN_HOME=%CONDA_PREFIX%\Library\share\cpwin"
