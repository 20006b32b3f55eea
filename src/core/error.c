/* error.c - status codes, error messages and the version string. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

const char *fr_version(void) {
#define FR__STR2(x) #x
#define FR__STR(x) FR__STR2(x)
  return FR__STR(FR_VERSION_MAJOR) "." FR__STR(FR_VERSION_MINOR) "." FR__STR(FR_VERSION_PATCH);
}

const char *fr_strerror(fr_status status) {
  switch (status) {
  case FR_OK: return "success";
  case FR_E_INVALID: return "invalid argument";
  case FR_E_NOMEM: return "out of memory";
  case FR_E_IO: return "input/output error";
  case FR_E_FORMAT: return "malformed or truncated data";
  case FR_E_UNSUPPORTED: return "unsupported input";
  case FR_E_LIMIT: return "input exceeds a size limit";
  case FR_E_MODEL: return "bad or missing model";
  case FR_E_NOTFOUND: return "not found";
  case FR_E_INTERNAL: return "internal error";
  case FR_E_ABORTED: return "stopped by the caller";
  default: return "unknown error";
  }
}

const char *fr_status_name(fr_status status) {
  switch (status) {
  case FR_OK: return "FR_OK";
  case FR_E_INVALID: return "FR_E_INVALID";
  case FR_E_NOMEM: return "FR_E_NOMEM";
  case FR_E_IO: return "FR_E_IO";
  case FR_E_FORMAT: return "FR_E_FORMAT";
  case FR_E_UNSUPPORTED: return "FR_E_UNSUPPORTED";
  case FR_E_LIMIT: return "FR_E_LIMIT";
  case FR_E_MODEL: return "FR_E_MODEL";
  case FR_E_NOTFOUND: return "FR_E_NOTFOUND";
  case FR_E_INTERNAL: return "FR_E_INTERNAL";
  case FR_E_ABORTED: return "FR_E_ABORTED";
  default: return NULL;
  }
}

fr_status fr__fail(fr_error *err, fr_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}

void fr__error_prefix(fr_error *err, const char *fmt, ...) {
  if (!err) return;
  char prefix[160];
  char old[sizeof err->message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->message, sizeof old);
  old[sizeof old - 1] = '\0';
  /* Truncation is acceptable for a message; build it piecewise so the
   * compiler can see that no overflow is possible. */
  size_t n = strlen(prefix);
  if (n > sizeof err->message - 3) n = sizeof err->message - 3;
  memcpy(err->message, prefix, n);
  memcpy(err->message + n, ": ", 2);
  size_t room = sizeof err->message - n - 3;
  size_t m = strlen(old);
  if (m > room) m = room;
  memcpy(err->message + n + 2, old, m);
  err->message[n + 2 + m] = '\0';
}
