/* kiln_tf.h — what kiln's TensorFlow C API adds to TensorFlow's (outside the TF_ prefix).
 *
 *   #include "tensorflow/c/c_api.h"
 *   #include "kiln_tf.h"
 *   char report[4096];
 *   kiln_tf_session_report(session, report, sizeof report);
 *   // {"models":[{"name":..,"fingerprint":..,"ready":true,"plan_shared":true,
 *   //             "weight_bytes":..,"prepare_ms":..,"compile_ms":..}],
 *   //  "engine":{"plans":1,"models":2,"plan_bytes":..,"weight_bytes":..,"arena_bytes":..,
 *   //            "process_resident_bytes":..}}
 *
 * A session's models are the compiled forms of its graph, one per set of feeds and fetches;
 * "plan_shared" says that the plan was already compiled for another graph of the same
 * architecture (so this one cost only its weights). "engine" covers every session of the
 * process (they share one engine).
 */
#ifndef KILN_TF_H_
#define KILN_TF_H_

#include <stddef.h>

#include "tensorflow/c/c_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the session's report as JSON into buffer (at most size bytes, NUL-terminated) and
 * returns its full length (as snprintf does: call with size 0 to learn it). */
TF_CAPI_EXPORT extern size_t kiln_tf_session_report(TF_Session* session, char* buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif
