/*
 * faceapi_int8_table.c - FaceRecognitionNet's int8 calibration table, written
 * by `facerec quantize` from 102 face chips: per tensor id of the graph, the
 * float range [lo, hi] its int8 convolutions quantise (lo = the minimum, hi =
 * the 100.00 percentile of |x|). Derived data: regenerate, do not edit.
 */
#include "embed/embed_internal.h"
#include "nn/quant.h"

static const fr__quant_range k_ranges[44] = {
    {-4.81498033e-01f, 5.90988219e-01f}, /* tensor 0 */
    {0.00000000e+00f, 8.54778004e+00f}, /* tensor 1 */
    {0.00000000e+00f, 8.54778004e+00f}, /* tensor 2 */
    {0.00000000e+00f, 8.23600197e+00f}, /* tensor 3 */
    {0.00000000e+00f, 1.10423107e+01f}, /* tensor 4 */
    {0.00000000e+00f, 7.33483505e+00f}, /* tensor 5 */
    {0.00000000e+00f, 1.79063263e+01f}, /* tensor 6 */
    {0.00000000e+00f, 8.68614292e+00f}, /* tensor 7 */
    {0.00000000e+00f, 2.53054619e+01f}, /* tensor 8 */
    {0.00000000e+00f, 1.05955858e+01f}, /* tensor 9 */
    {0.00000000e+00f, 1.41461391e+01f}, /* tensor 10 */
    {0.00000000e+00f, 1.41461391e+01f}, /* tensor 11 */
    {0.00000000e+00f, 1.37851572e+01f}, /* tensor 12 */
    {0.00000000e+00f, 7.12419987e+00f}, /* tensor 13 */
    {0.00000000e+00f, 1.63332901e+01f}, /* tensor 14 */
    {0.00000000e+00f, 6.73656654e+00f}, /* tensor 15 */
    {0.00000000e+00f, 2.03898945e+01f}, /* tensor 16 */
    {0.00000000e+00f, 5.82180500e+00f}, /* tensor 17 */
    {0.00000000e+00f, 2.00409889e+01f}, /* tensor 18 */
    {0.00000000e+00f, 5.68745852e+00f}, /* tensor 19 */
    {0.00000000e+00f, 1.06169939e+01f}, /* tensor 20 */
    {0.00000000e+00f, 1.06169939e+01f}, /* tensor 21 */
    {0.00000000e+00f, 9.14282322e+00f}, /* tensor 22 */
    {0.00000000e+00f, 4.44987869e+00f}, /* tensor 23 */
    {0.00000000e+00f, 8.30173874e+00f}, /* tensor 24 */
    {0.00000000e+00f, 5.57679892e+00f}, /* tensor 25 */
    {0.00000000e+00f, 9.35579395e+00f}, /* tensor 26 */
    {0.00000000e+00f, 6.05711937e+00f}, /* tensor 27 */
    {0.00000000e+00f, 5.13941479e+00f}, /* tensor 28 */
    {0.00000000e+00f, 5.13941479e+00f}, /* tensor 29 */
    {-6.18412924e+00f, 1.53510485e+01f}, /* tensor 30 */
    {-6.18412924e+00f, 1.53510485e+01f}, /* tensor 31 */
    {0.00000000e+00f, 1.58900652e+01f}, /* tensor 32 */
    {0.00000000e+00f, 5.06979179e+00f}, /* tensor 33 */
    {0.00000000e+00f, 1.52860460e+01f}, /* tensor 34 */
    {0.00000000e+00f, 3.39001679e+00f}, /* tensor 35 */
    {0.00000000e+00f, 1.43650532e+01f}, /* tensor 36 */
    {0.00000000e+00f, 9.48790646e+00f}, /* tensor 37 */
    {0.00000000e+00f, 4.35553741e+00f}, /* tensor 38 */
    {-3.16783810e+00f, 3.16783810e+00f}, /* tensor 39 */
    {-3.16783810e+00f, 3.16783810e+00f}, /* tensor 40 */
    {0.00000000e+00f, 5.12330818e+00f}, /* tensor 41 */
    {0.00000000e+00f, 2.34024739e+00f}, /* tensor 42 */
    {-4.14228529e-01f, 5.16412795e-01f}, /* tensor 43 */
};
const fr__quant_range *const fr__faceapi_int8_ranges = k_ranges;
const int fr__faceapi_int8_nranges = 44;
