/* report_cli.h - the `kvscreen report` and `kvscreen audit` commands.
 *
 * Both take the command's own arguments (argv[0] is the command name) and
 * the default configuration path, and return kvscreen's exit status: 0, 1
 * (usage or operating error), 2 (invalid configuration), 5 (audit verify:
 * the chain is broken).
 */
#ifndef KVS_REPORT_CLI_H
#define KVS_REPORT_CLI_H

int report_cli_report(const char *config, int argc, char **argv);
int report_cli_audit(const char *config, int argc, char **argv);

#endif
