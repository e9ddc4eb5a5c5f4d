#include "cli.h"
int cmd_query(int argc, char **argv) { (void)argc; (void)argv; return 2; }
