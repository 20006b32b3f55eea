/*
 * loader.h - the one "load a network" sequence that detectors, landmarkers
 * and embedders share, driven by a small declaration of the network.
 *
 * The sequence: find the model folder (the given one, else the first
 * folder fr_model_path finds the network's first original file in), take
 * the converted model file <name>.frm there when there is one (unless
 * FACEREC_NO_FRM is set), else read the original files - a TF.js manifest
 * whose graph the network's own build function makes, or one TFLite file
 * per graph - and hand the graphs to the model kind's take function, which
 * keeps what it needs and checks it. Everything here is about graphs and
 * files; what a network is for stays with the model layer that declares it,
 * which also chooses the role word its model file records.
 */
#ifndef FR_NN_LOADER_H
#define FR_NN_LOADER_H

#include "nn/model_file.h"
#include "nn/tfjs.h"

/* The original format a network comes in. FR__NET_NONE: the model has no
 * network (the cascades), so the loader only finds its folder. */
typedef enum { FR__NET_NONE = 0, FR__NET_TFJS = 1, FR__NET_TFLITE = 2 } fr__net_format;

/* Most original files a network has (MTCNN's three TFLite graphs). */
#define FR__NET_FILES 3

/*
 * What the loader, `facerec convert` and the tests need to know about one
 * network. Each model file declares one in its implementation table entry.
 */
typedef struct fr__net_spec {
  /* The registry name (a CLI name: "ssd"), which is also the name of the
   * converted model file, <name>.frm. */
  const char *name;
  const char *title; /* for messages, and a TF.js network's graph name: "SSD-MobileNetV1" */
  fr__net_format format;
  /* The original files in the model folder; the first is how the folder is
   * found. TF.js: the manifest, then the weight shards it names (listed so
   * that tools can size and copy a network); TFLite: one file per graph, in
   * the order the model uses them. Unused entries are NULL. */
  const char *files[FR__NET_FILES];
  /* A system folder also searched for files[0] when the model folder lacks
   * it (the cascades of Debian's opencv-data package); NULL: none. */
  const char *fallback_dir;
  /* The square input side the model uses by default and a model file
   * records; for MTCNN the smallest face looked for, not a graph's side. */
  int input_size;
  /* The square side each graph is planned and compared at (MTCNN's P-, R-
   * and O-Net: 12, 24, 48); 0: input_size. */
  int sides[FR__NET_FILES];
  /* The length of the network's output vector that a model file records
   * (an embedder's descriptor, the landmark nets' 136 numbers); 0 for the
   * detectors, whose outputs are maps. */
  int dim;
  /* 1: the network is never converted and no <name>.frm is looked for
   * (FaceRecognitionNet's int8 variant: its calibration is applied while
   * the graph is built and a model file cannot record it). */
  int no_model_file;
  /* TF.js only: builds graph g (created empty, named title) from the
   * weights. It may keep float arrays beside the graphs in m with
   * fr__model_add_array (SSD's anchor boxes), which then travel in the
   * model file too. */
  fr_status (*build)(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err);
} fr__net_spec;

/* How many graphs the network has: 1 for TF.js, one per TFLite file, 0 for
 * FR__NET_NONE. */
int fr__net_graphs(const fr__net_spec *spec);

/* The square side graph k is planned at (sides[k], else input_size). */
int fr__net_side(const fr__net_spec *spec, int k);

/* Whether the network has a model file: `facerec convert` writes one and
 * the loader looks for it. */
int fr__net_convertible(const fr__net_spec *spec);

/*
 * What a model kind does with its loaded network: moves the graphs and
 * arrays it keeps out of m (fr__model_take_graph, fr__model_take_array)
 * into obj, the object being loaded, and checks them; dir is the model
 * folder, for anything else the model reads (the cascades' XML). m holds
 * exactly fr__net_graphs(spec) graphs, and is released after the call.
 */
typedef fr_status (*fr__net_take_fn)(void *obj, fr__model *m, const char *dir, fr_error *err);

/*
 * Loads network spec into obj with the given kernels (NULL: the best set),
 * following the sequence at the top of this file; role is the role word
 * its model file must record. A missing folder or file is FR_E_NOTFOUND
 * naming the file; every later failure is prefixed "loading <title> from
 * <folder>". On failure obj may hold part of the network: the caller
 * destroys it.
 */
fr_status fr__net_load(const fr__net_spec *spec, fr__model_role role, const char *model_dir,
                       const fr__kernels *kernels, fr__net_take_fn take, void *obj,
                       fr_error *err);

/*
 * Reads the network from its original files in dir (never a model file)
 * into m, graphs built with the given kernels, with the metadata a model
 * file records (role, spec's name, input_size and dim): with
 * fr__kernels_record, m is what `facerec convert` saves. On failure m is
 * empty.
 */
fr_status fr__net_load_original(const fr__net_spec *spec, fr__model_role role, const char *dir,
                                const fr__kernels *kernels, fr__model *m, fr_error *err);

/*
 * Checks that graph g, planned at batch 1 and side x side, gives one vector
 * of len floats ([1, 1, 1, len]) as its first output, as embedders and the
 * landmark nets read it; FR_E_MODEL naming title otherwise. Costs one
 * plan, so that a wrong file fails at load and not at its first run.
 */
fr_status fr__net_check_vector(const fr__graph *g, int side, int len, const char *title,
                               fr_error *err);

#endif
