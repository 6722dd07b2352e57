/* Segments a PNG with a kiln model through the C API and writes the defect mask as a PGM.
 *
 *   segment_png MODEL.onnx [WEIGHTS] IMAGE.png MASK.pgm
 *
 * The image is read grey with stb_image, scaled to [0, 1], and the model is prepared for its
 * size (NCHW, one channel, as kiln's demo U-Nets take it). Prints the defect pixel count.
 * Exit status 0 on success; on failure kiln's message on stderr and status 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include <stb/stb_image.h>

#include "kiln/kiln.h"

static int failed(const char* what) {
  fprintf(stderr, "segment_png: %s: %s\n", what, kiln_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: segment_png MODEL [WEIGHTS] IMAGE.png MASK.pgm\n");
    return 2;
  }
  const char* model = argv[1];
  const char* weights = argc == 5 ? argv[2] : NULL;
  const char* image_path = argv[argc - 2];
  const char* mask_path = argv[argc - 1];

  int w = 0, h = 0, channels = 0;
  unsigned char* pixels = stbi_load(image_path, &w, &h, &channels, 1);
  if (!pixels) {
    fprintf(stderr, "segment_png: cannot read %s: %s\n", image_path, stbi_failure_reason());
    return 1;
  }
  const size_t n = (size_t)w * (size_t)h;
  float* image = malloc(n * sizeof(float));
  float* mask = malloc(n * sizeof(float));
  if (!image || !mask) return 1;
  for (size_t i = 0; i < n; ++i) image[i] = pixels[i] / 255.0f;
  stbi_image_free(pixels);

  int status = 1;
  kiln_engine* engine = NULL;
  if (kiln_engine_create(NULL, &engine) != KILN_OK) return failed("creating the engine");
  kiln_load_spec spec;
  kiln_load_spec_init(&spec);
  spec.model = model;
  spec.weights = weights;
  spec.height = h;
  spec.width = w;
  if (kiln_load(engine, "model", &spec) != KILN_OK) {
    status = failed("loading");
    goto done;
  }
  if (kiln_wait_ready(engine, "model", 120000) != KILN_OK) {
    status = failed("preparing");
    goto done;
  }
  int64_t shape[4] = {1, 1, h, w}, out_shape[8];
  kiln_tensor in = {image, shape, 4, n}, out = {mask, out_shape, 0, n};
  if (kiln_run(engine, "model", &in, 1, &out, 1) != KILN_OK) {
    status = failed("running");
    goto done;
  }
  FILE* f = fopen(mask_path, "wb");
  if (!f) {
    fprintf(stderr, "segment_png: cannot write %s\n", mask_path);
    goto done;
  }
  fprintf(f, "P5\n%d %d\n255\n", w, h);
  size_t defects = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char v = mask[i] >= 0.5f ? 255 : 0;
    defects += v != 0;
    fputc(v, f);
  }
  fclose(f);
  printf("%s: %dx%d, %zu defect pixels -> %s\n", image_path, w, h, defects, mask_path);
  status = 0;
done:
  kiln_engine_destroy(engine);
  free(image);
  free(mask);
  return status;
}
