@set "CPWIN_ACTIVE="
@set "CPWIN_HOME="
