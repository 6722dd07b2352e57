/* kiln/kiln.h — kiln's C API: prepare models in the background, run them hot, swap weights.
 *
 *   kiln_engine* e = NULL;
 *   if (kiln_engine_create(NULL, &e) != KILN_OK) { puts(kiln_last_error()); return 1; }
 *   kiln_load_spec spec;
 *   kiln_load_spec_init(&spec);
 *   spec.model = "unet.onnx";
 *   spec.weights = "cable.safetensors";                   // optional
 *   kiln_load(e, "cable", &spec);                          // returns at once: prepares in the background
 *   double progress;                                       // e.g. for a progress bar meanwhile:
 *   kiln_model_state state;
 *   kiln_model_status(e, "cable", &state, &progress);
 *   if (kiln_wait_ready(e, "cable", 30000) != KILN_OK) { puts(kiln_last_error()); return 1; }
 *   int64_t shape[4] = {1, 1, 512, 512};                   // the caller's image, NCHW float32
 *   kiln_tensor in = {image, shape, 4, 512 * 512}, out = {mask, NULL, 0, 512 * 512};
 *   if (kiln_run(e, "cable", &in, 1, &out, 1) != KILN_OK) puts(kiln_last_error());
 *   kiln_load_weights(e, "cable", "cable_v2.safetensors"); // atomic: runs in flight keep the old
 *   kiln_unload(e, "cable");
 *   kiln_engine_destroy(e);
 *
 * Every function returns a kiln_status; on anything but KILN_OK, kiln_last_error() gives the
 * message of the calling thread's last failed call (valid until its next call into kiln).
 * No C++ exception crosses this interface. An engine is safe to use from several threads at
 * once, as kiln::Engine is (kiln/engine.h). Tensors are float32, dense, row-major, in the
 * model's own layout (NCHW for ONNX, NHWC for TensorFlow and Keras models).
 */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_status {
  KILN_OK = 0,
  KILN_INVALID_ARGUMENT = 1, /* the caller passed something wrong (shape, size, name, NULL) */
  KILN_INVALID_MODEL = 2,    /* the model file is corrupt, truncated or inconsistent */
  KILN_UNSUPPORTED = 3,      /* a valid model with an op or attribute kiln does not implement */
  KILN_NOT_FOUND = 4,        /* no such file, tensor or model */
  KILN_IO = 5,               /* reading or writing a file failed */
  KILN_INTERNAL = 6,         /* a bug in kiln or a backend failure */
  KILN_UNAVAILABLE = 7,      /* not now: the model is still being prepared */
  KILN_DEADLINE_EXCEEDED = 8 /* a wait ran out of time */
} kiln_status;

typedef enum kiln_model_state { KILN_LOADING = 0, KILN_PREPARING = 1, KILN_READY = 2, KILN_FAILED = 3 } kiln_model_state;

/* KILN_AUTO: fp32 results, each convolution computed the fastest way measured on this CPU
   (direct or Winograd); KILN_AUTO_BF16: as KILN_AUTO, and fp32 or bf16 per convolution. */
typedef enum kiln_precision {
  KILN_FP32 = 0,
  KILN_BF16 = 1,
  KILN_INT8 = 2,
  KILN_AUTO = 3,
  KILN_AUTO_BF16 = 4
} kiln_precision;

typedef struct kiln_engine kiln_engine;

/* The calling thread's last error message ("" if none). */
const char* kiln_last_error(void);
/* kiln's version ("0.1.0") and the oneDNN it runs on ("2.6.3"). */
const char* kiln_version(void);
const char* kiln_onednn_version(void);

/* Compute threads use OpenMP. Start the program with OMP_WAIT_POLICY=PASSIVE in its
   environment (libgomp reads it once, when loaded): idle workers then sleep at once, which
   holds up when another process keeps a core busy (README, --threads). */
typedef struct kiln_engine_options {
  int runners;                /* concurrent runs (default 1) */
  const char* cache_dir;      /* packed-weight (and timing) cache directory, or NULL for none */
  kiln_precision precision;   /* default KILN_FP32 */
  int winograd;               /* nonzero: 3x3 convolutions by Winograd (faster, more memory) */
  int threads;                /* compute threads per runner; 0 (default): the cores divided among the runners */
} kiln_engine_options;

void kiln_engine_options_init(kiln_engine_options* options);
/* options may be NULL (the defaults). */
kiln_status kiln_engine_create(const kiln_engine_options* options, kiln_engine** engine);
/* Finishes background preparation first. NULL is allowed. */
void kiln_engine_destroy(kiln_engine* engine);

typedef struct kiln_load_spec {
  const char* model;        /* .onnx, TensorFlow .pb, Keras .h5: the architecture (and weights) */
  const char* weights;      /* optional: .safetensors, .h5, .onnx of the same architecture, .kwp */
  int64_t height, width;    /* optional (> 0): the size of image to prepare for */
} kiln_load_spec;

void kiln_load_spec_init(kiln_load_spec* spec);
/* Starts preparing `name`; returns at once. Fails now only for bad arguments or a name in use. */
kiln_status kiln_load(kiln_engine* engine, const char* name, const kiln_load_spec* spec);
/* Waits until `name` is ready (KILN_OK), failed (its error), or timeout_ms passes
 * (KILN_DEADLINE_EXCEEDED). */
kiln_status kiln_wait_ready(kiln_engine* engine, const char* name, int64_t timeout_ms);
/* Where preparation is: state and progress (0..1); either pointer may be NULL. A failed model's
 * reason is kiln_last_error() after kiln_wait_ready. */
kiln_status kiln_model_status(kiln_engine* engine, const char* name, kiln_model_state* state, double* progress);

/* A tensor the caller owns. For inputs: data, shape, rank and capacity (elements) are read.
 * For outputs: data and capacity (elements it can hold) are read; shape may be NULL, or room
 * for 8 dimensions that receive the output's shape; rank receives its rank. */
typedef struct kiln_tensor {
  float* data;
  int64_t* shape;
  int rank;
  size_t capacity;
} kiln_tensor;

/* A ready model's inputs and outputs: counts, and one tensor's name and shape (-1: free). */
kiln_status kiln_model_io(kiln_engine* engine, const char* name, size_t* inputs, size_t* outputs);
kiln_status kiln_model_tensor(kiln_engine* engine, const char* name, int output, size_t index, const char** tensor_name,
                              int64_t shape[8], int* rank);

/* Runs `name` on the inputs (in the model's input order) into the caller's output buffers.
 * An output buffer too small, or a count that is not the model's, is KILN_INVALID_ARGUMENT
 * (nothing written). Inputs of another height and width than loaded compile on first use. */
kiln_status kiln_run(kiln_engine* engine, const char* name, const kiln_tensor* inputs, size_t input_count,
                     kiln_tensor* outputs, size_t output_count);
/* The same, with the outputs allocated by kiln: *outputs receives an array of *output_count
 * tensors (data and shape allocated), released with kiln_free_tensors. */
kiln_status kiln_run_alloc(kiln_engine* engine, const char* name, const kiln_tensor* inputs, size_t input_count,
                           kiln_tensor** outputs, size_t* output_count);
void kiln_free_tensors(kiln_tensor* tensors, size_t count);

/* Replaces the weights atomically; on any mismatch the old weights keep serving. */
kiln_status kiln_load_weights(kiln_engine* engine, const char* name, const char* weights_path);
kiln_status kiln_unload(kiln_engine* engine, const char* name);
/* Writes the model's packed weights as a weight pack (.kwp: mmap-able, checksummed). */
kiln_status kiln_export_pack(kiln_engine* engine, const char* name, const char* path);

typedef struct kiln_memory_report {
  size_t plans, models;
  size_t plan_bytes;             /* compiled plans (JIT code, descriptors) */
  size_t weight_bytes_resident;  /* packed weights on the heap */
  size_t weight_bytes_mapped;    /* packed weights mapped from the cache */
  size_t arena_bytes;            /* activation arenas */
} kiln_memory_report;

kiln_status kiln_memory(kiln_engine* engine, kiln_memory_report* report);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_H */
