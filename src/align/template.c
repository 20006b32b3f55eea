/*
 * template.c - the canonical 68-point face used by FR_ALIGN_SIMILARITY.
 *
 * dlib aligns faces by fitting a similarity transform from its mean face shape
 * onto the detected landmarks and cutting a 150x150 chip with padding 0.25.
 * dlib's own table is not used here, and its landmark annotation differs from
 * the one face-api's nets were trained on, so the template is derived from
 * facerec's own landmark net in chips that dlib aligned:
 *
 *   1. FaceLandmark68Net is run on each of the 55 dlib-aligned 150x150 chips
 *      (padding 0.25) of the shared data folder, johns/NAME/NNNNNN_NNNNNNNN.jpg,
 *      with the whole chip as the face box;
 *   2. each point is divided by the chip side, giving u in [0, 1] of the
 *      padded chip, and mapped to dlib's unpadded unit square by
 *      t = u * (1 + 2 * 0.25) - 0.25;
 *   3. the points are averaged over the 55 chips.
 *
 * Because the chips are dlib's, aligning a new face onto these points puts it
 * where dlib would, as far as the two landmark conventions allow, and any bias
 * the net has on such chips cancels out. tests/test_landmarks.c re-derives the
 * table and fails if it drifts by 1e-3 (0.1 px on a 150 px chip); run it with
 * FACEREC_PRINT_TEMPLATE=1 to print a fresh table after an intended change.
 *
 * Coordinates are continuous: 0 is the left (top) edge of the unit square,
 * 1 its right (bottom) edge; the jaw line (0-16) reaches outside it.
 */
#include "align/align_internal.h"

const float fr__landmark_template[FR_MAX_LANDMARKS][2] = {
    {-0.152951f, 0.212150f}, {-0.140519f, 0.381289f}, /* 0-1 */
    {-0.114723f, 0.539776f}, {-0.087981f, 0.678568f}, /* 2-3 */
    {-0.039605f, 0.836001f}, {0.043179f, 0.959002f},  /* 4-5 */
    {0.144552f, 1.047063f},  {0.276411f, 1.139303f},  /* 6-7 */
    {0.472966f, 1.194716f},  {0.670534f, 1.141480f},  /* 8-9 */
    {0.792748f, 1.059276f},  {0.888350f, 0.977048f},  /* 10-11 */
    {0.971762f, 0.850209f},  {1.027737f, 0.694450f},  /* 12-13 */
    {1.054548f, 0.549312f},  {1.079621f, 0.398392f},  /* 14-15 */
    {1.090307f, 0.234304f},  {-0.009154f, 0.077863f}, /* 16-17 */
    {0.065130f, 0.031898f},  {0.159165f, 0.015740f},  /* 18-19 */
    {0.247803f, 0.021506f},  {0.325824f, 0.049014f},  /* 20-21 */
    {0.636842f, 0.055795f},  {0.712997f, 0.033465f},  /* 22-23 */
    {0.797581f, 0.026368f},  {0.894912f, 0.045324f},  /* 24-25 */
    {0.965143f, 0.090769f},  {0.479581f, 0.216307f},  /* 26-27 */
    {0.481217f, 0.324738f},  {0.481418f, 0.426612f},  /* 28-29 */
    {0.478708f, 0.519063f},  {0.375581f, 0.574319f},  /* 30-31 */
    {0.420442f, 0.593456f},  {0.478518f, 0.604918f},  /* 32-33 */
    {0.537784f, 0.590448f},  {0.582707f, 0.580156f},  /* 34-35 */
    {0.111853f, 0.193378f},  {0.168084f, 0.173891f},  /* 36-37 */
    {0.244684f, 0.171663f},  {0.312789f, 0.208403f},  /* 38-39 */
    {0.253249f, 0.232648f},  {0.171787f, 0.225914f},  /* 40-41 */
    {0.638699f, 0.213137f},  {0.708627f, 0.176568f},  /* 42-43 */
    {0.788501f, 0.179677f},  {0.839776f, 0.211976f},  /* 44-45 */
    {0.783772f, 0.240132f},  {0.703531f, 0.231871f},  /* 46-47 */
    {0.236651f, 0.766851f},  {0.321165f, 0.734229f},  /* 48-49 */
    {0.426114f, 0.713356f},  {0.479759f, 0.723298f},  /* 50-51 */
    {0.529104f, 0.710308f},  {0.639754f, 0.741379f},  /* 52-53 */
    {0.725424f, 0.774316f},  {0.633649f, 0.847702f},  /* 54-55 */
    {0.559799f, 0.886424f},  {0.477424f, 0.897061f},  /* 56-57 */
    {0.403488f, 0.885962f},  {0.324006f, 0.850758f},  /* 58-59 */
    {0.248848f, 0.769096f},  {0.401568f, 0.762785f},  /* 60-61 */
    {0.479030f, 0.764639f},  {0.552151f, 0.766988f},  /* 62-63 */
    {0.707186f, 0.773235f},  {0.553436f, 0.815948f},  /* 64-65 */
    {0.480951f, 0.824038f},  {0.407896f, 0.817912f},  /* 66-67 */
};
