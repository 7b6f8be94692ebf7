/* export_control.c - placeholder */
#include "kvscreen/plugin.h"
KVS_PLUGIN_DECLARE = { KVS_PLUGIN_INIT, .name = "export_control" };
