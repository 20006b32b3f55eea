/*
 * fuzz_ws.c - libFuzzer target: the payload of a WebSocket frame on
 * /api/v1/stream (fr__srv_ws_frame in src/server/parse.c): a bare JPEG/PNG,
 * or the 24-byte FRF1 header with raw pixels or an encoded image behind it.
 * Checks, besides the sanitizers': a failure has a known status and a
 * message; an accepted frame's image lies inside the payload, and raw pixels
 * fill exactly what their geometry needs (every byte is read, so a short
 * buffer is an ASan report).
 */
#include "server/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what, const fr_error *err) {
  fprintf(stderr, "\nfuzz_ws: %s (%s)\n", what, err->message);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fr__srv_frame f;
  fr_error err = {0, ""};
  fr_status st = fr__srv_ws_frame(data, size, &f, &err);
  if (st != FR_OK) {
    if (st != FR_E_FORMAT && st != FR_E_LIMIT && st != FR_E_INVALID) violated("an unexpected status", &err);
    if (err.status != st || !err.message[0]) violated("a failure without a matching message", &err);
    return 0;
  }
  if (f.data < data || f.data + f.size > data + size) violated("the image lies outside the payload", &err);
  if (f.has_seq && size < FR_SRV_FRAME_HEADER) violated("a sequence number without a header", &err);
  if (f.raw) {
    const fr__srv_raw *g = &f.geometry;
    int px = fr_pixel_size(g->format);
    if (px == 0 || g->width < 1 || g->height < 1 || g->stride < g->width * px)
      violated("accepted raw pixels with an impossible geometry", &err);
    size_t need = (size_t)g->stride * (size_t)(g->height - 1) + (size_t)g->width * (size_t)px;
    if (f.size < need) violated("raw pixels shorter than their geometry", &err);
    /* What the pipeline would do first: wrap the buffer as an image. */
    fr_image img;
    if (fr_image_wrap((void *)f.data, g->width, g->height, g->stride, g->format, &img, &err) != FR_OK)
      violated("accepted raw pixels that fr_image_wrap refuses", &err);
    volatile uint8_t sink = 0;
    uint8_t acc = 0;
    for (int y = 0; y < g->height; y++)
      for (int x = 0; x < g->width * px; x++) acc ^= img.data[(size_t)y * img.stride + x];
    sink = acc;
    (void)sink;
  } else if (f.size < 3) {
    violated("an encoded image of fewer than 3 bytes", &err);
  }
  return 0;
}
