/*
 * cli.h - command groups of the facerec tool that live outside facerec.c.
 */
#ifndef FR_TOOLS_CLI_H
#define FR_TOOLS_CLI_H

/*
 * The recognition commands: enroll, forget, people, identify, recognize and
 * "eval lowshot". argv holds the arguments after the command name. Returns
 * -1 when cmd (with its first argument, for eval) is not one of them, so the
 * caller can try its own commands; otherwise the process exit status.
 */
int fr_cli_gallery(const char *cmd, int argc, char **argv);

/* The usage lines of these commands, for the tool's help text. */
extern const char fr_cli_gallery_usage[];

#endif
