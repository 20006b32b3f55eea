/*
 * cli.h - command groups of the facerec tool that live outside facerec.c.
 */
#ifndef FR_TOOLS_CLI_H
#define FR_TOOLS_CLI_H

/*
 * The recognition commands: enroll, forget, people, identify, recognize,
 * "eval lowshot" and "eval openset" (tools/cmd_gallery.c; the evaluations in
 * tools/eval_gallery.c). argv holds the arguments after the command name.
 * Returns -1 when cmd (with its first argument, for eval) is not one of them,
 * so the caller can try its own commands; otherwise the process exit status.
 */
int fr_cli_gallery(const char *cmd, int argc, char **argv);

/* The usage lines of these commands, for the tool's help text. */
extern const char fr_cli_gallery_usage[];

/* facerec serve: the HTTP/WebSocket server (tools/cmd_serve.c). argv holds
 * the arguments after "serve". Returns the process exit status. */
int fr_cli_serve(int argc, char **argv);
extern const char fr_cli_serve_usage[];

/* facerec convert: writes facerec model files (tools/cmd_convert.c). argv
 * holds the arguments after "convert". Returns the process exit status. */
int fr_cli_convert(int argc, char **argv);
extern const char fr_cli_convert_usage[];

/* facerec quantize: int8 calibration table of FaceRecognitionNet
 * (tools/cmd_quantize.c). argv holds the arguments after "quantize". */
int fr_cli_quantize(int argc, char **argv);
extern const char fr_cli_quantize_usage[];

/* facerec infer: runs one network file on a .npy tensor (tools/cmd_infer.c).
 * argv holds the arguments after "infer". Returns the process exit status. */
int fr_cli_infer(int argc, char **argv);
extern const char fr_cli_infer_usage[];

/* Prints "facerec: MESSAGE" on stderr and returns the usage-error status 2. */
int cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict parses of a whole option value within [lo, hi]: 1 on success. */
int cli_parse_int(const char *s, int lo, int hi, int *out);
int cli_parse_float(const char *s, float lo, float hi, float *out);

/* Kind names as the CLI spells them (the library's tables for detectors and
 * embedders): 1 and *out set on success, 0 for an unknown name. */
#include "facerec.h"
int cli_parse_detector(const char *s, fr_detector_kind *out);
int cli_parse_embedder(const char *s, fr_embedder_kind *out);
/* --detector: a detector name, or scrfd:PATH (po->detector_file). */
int cli_parse_detector_file(const char *s, fr_pipeline_options *po);
/* --model: an embedder name, or a user's model (a card or network file by
 * path, or NAME with NAME.json in the model folder) into po->model_file. */
int cli_parse_model(const char *s, fr_pipeline_options *po);
int cli_parse_align(const char *s, fr_align_method *out);
/* "upright", "similarity", "arcface" or "facenet" ("?" for others). */
const char *cli_align_name(fr_align_method m);
/* The lists of valid names, e.g. "ssd, tiny, mtcnn", for error messages. */
void cli_detector_names(char *buf, size_t size);
void cli_embedder_names(char *buf, size_t size);

/* Prints s as a JSON string literal (quoted and escaped) on stdout. */
void cli_json_string(const char *s);

#endif
