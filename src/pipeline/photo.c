/*
 * photo.c - describing the faces of a photo that may be a tight face crop.
 *
 * The face-api detectors were trained on scenes, so a crop whose face fills
 * the frame is usually missed. Padding the crop with a neutral border makes
 * the face a plausible fraction of the frame (it is a smaller scale for the
 * detector, whose input size is fixed), and the landmarks and alignment then
 * work as on any photo. Only when that fails too is the whole image taken as
 * the face, which still beats refusing a photo the user knows is a face.
 */
#include "core/internal.h"

#include <string.h>

/* Border widths tried, as fractions of the image's larger side. */
static const float pad_ratios[2] = {0.25f, 0.6f};

/* An RGB copy of img centred in a mid-gray frame `pad` pixels wider on each side. */
static fr_status pad_image(const fr_image *img, int pad, fr_image *out, fr_error *err) {
  fr_image rgb;
  fr_status st = fr_image_convert(img, FR_PIXEL_RGB, &rgb, err);
  if (st != FR_OK) return st;
  st = fr_image_alloc(img->width + 2 * pad, img->height + 2 * pad, FR_PIXEL_RGB, out, err);
  if (st == FR_OK) {
    for (int y = 0; y < out->height; y++) memset(out->data + (size_t)y * out->stride, 128, (size_t)out->width * 3);
    for (int y = 0; y < img->height; y++)
      memcpy(out->data + (size_t)(y + pad) * out->stride + (size_t)pad * 3,
             rgb.data + (size_t)y * rgb.stride, (size_t)img->width * 3);
  }
  fr_image_free(&rgb);
  return st;
}

fr_status fr_describe_photo(fr_context *ctx, const fr_pipeline *pipe, const fr_image *img,
                            int whole_image_fallback, fr_face *faces, float *desc, int max_faces,
                            int *n_faces, fr_face_source *source, fr_error *err) {
  if (source) *source = 0;
  if (!n_faces) return fr__fail(err, FR_E_INVALID, "fr_describe_photo: NULL n_faces");
  *n_faces = 0;
  int n = 0;
  fr_status st = fr_pipeline_run(ctx, pipe, img, faces, desc, max_faces, &n, err);
  if (st != FR_OK) return st;
  if (n > 0) {
    *n_faces = n;
    if (source) *source = FR_FACE_SOURCE_DETECTED;
    return FR_OK;
  }
  int side = img->width > img->height ? img->width : img->height;
  for (int k = 0; k < 2 && n == 0; k++) {
    int pad = (int)(pad_ratios[k] * side + 0.5f);
    fr_image padded;
    st = pad_image(img, pad, &padded, err);
    if (st != FR_OK) return st;
    st = fr_pipeline_run(ctx, pipe, &padded, faces, desc, max_faces, &n, err);
    fr_image_free(&padded);
    if (st != FR_OK) return st;
    for (int i = 0; i < n; i++) {
      faces[i].box.x -= (float)pad;
      faces[i].box.y -= (float)pad;
      for (int j = 0; j < faces[i].n_landmarks; j++) {
        faces[i].landmarks[j].x -= (float)pad;
        faces[i].landmarks[j].y -= (float)pad;
      }
    }
  }
  if (n > 0) {
    *n_faces = n;
    if (source) *source = FR_FACE_SOURCE_PADDED;
    return FR_OK;
  }
  if (!whole_image_fallback) return FR_OK;
  if (desc) {
    st = fr_pipeline_describe_chip(ctx, pipe, img, desc, err);
    if (st != FR_OK) return st;
  }
  memset(&faces[0], 0, sizeof faces[0]);
  faces[0].box.width = (float)img->width;
  faces[0].box.height = (float)img->height;
  *n_faces = 1;
  if (source) *source = FR_FACE_SOURCE_WHOLE_IMAGE;
  return FR_OK;
}
