#include "dnnl_shim.h"

#include <dlfcn.h>
#include <stdio.h>

static char glip_dnnl_message[512];

static const char *glip_dnnl_fail(void *library, const char *what, const char *detail) {
  snprintf(glip_dnnl_message, sizeof glip_dnnl_message, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
  if (library) dlclose(library);
  return glip_dnnl_message;
}

static void *glip_dnnl_open(const char *path) {
  if (path) return dlopen(path, RTLD_NOW | RTLD_LOCAL);
  static const char *const names[] = {"libdnnl.so.2", "libdnnl.2.dylib"};
  for (size_t index = 0; index < sizeof names / sizeof names[0]; index++) {
    void *library = dlopen(names[index], RTLD_NOW | RTLD_LOCAL);
    if (library) return library;
  }
  return NULL;
}

// Resolves `dnnl_<name>` into api->field, or returns from glip_dnnl_load with the missing symbol's name.
#define GLIP_DNNL_RESOLVE(field, symbol)                                                                   \
  do {                                                                                                     \
    *(void **)&api->field = dlsym(library, symbol);                                                        \
    if (!api->field) return glip_dnnl_fail(library, "oneDNN library lacks", symbol);                      \
  } while (0)

const char *glip_dnnl_load(const char *path, glip_dnnl_api *api) {
  void *library = glip_dnnl_open(path);
  if (!library) return glip_dnnl_fail(NULL, "cannot open oneDNN", dlerror());
  GLIP_DNNL_RESOLVE(version, "dnnl_version");
  if (api->version()->major != 2) return glip_dnnl_fail(library, "oneDNN major version is not 2", NULL);
  GLIP_DNNL_RESOLVE(engine_create, "dnnl_engine_create");
  GLIP_DNNL_RESOLVE(stream_create, "dnnl_stream_create");
  GLIP_DNNL_RESOLVE(stream_wait, "dnnl_stream_wait");
  GLIP_DNNL_RESOLVE(memory_desc_init_by_tag, "dnnl_memory_desc_init_by_tag");
  GLIP_DNNL_RESOLVE(memory_desc_init_by_strides, "dnnl_memory_desc_init_by_strides");
  GLIP_DNNL_RESOLVE(memory_desc_reshape, "dnnl_memory_desc_reshape");
  GLIP_DNNL_RESOLVE(memory_desc_equal, "dnnl_memory_desc_equal");
  GLIP_DNNL_RESOLVE(memory_desc_get_size, "dnnl_memory_desc_get_size");
  GLIP_DNNL_RESOLVE(memory_create, "dnnl_memory_create");
  GLIP_DNNL_RESOLVE(memory_set_data_handle, "dnnl_memory_set_data_handle");
  GLIP_DNNL_RESOLVE(memory_destroy, "dnnl_memory_destroy");
  GLIP_DNNL_RESOLVE(convolution_forward_desc_init, "dnnl_dilated_convolution_forward_desc_init");
  GLIP_DNNL_RESOLVE(convolution_backward_data_desc_init, "dnnl_dilated_convolution_backward_data_desc_init");
  GLIP_DNNL_RESOLVE(convolution_backward_weights_desc_init, "dnnl_dilated_convolution_backward_weights_desc_init");
  GLIP_DNNL_RESOLVE(pooling_forward_desc_init, "dnnl_pooling_forward_desc_init");
  GLIP_DNNL_RESOLVE(matmul_desc_init, "dnnl_matmul_desc_init");
  GLIP_DNNL_RESOLVE(primitive_attr_create, "dnnl_primitive_attr_create");
  GLIP_DNNL_RESOLVE(primitive_attr_destroy, "dnnl_primitive_attr_destroy");
  GLIP_DNNL_RESOLVE(primitive_attr_set_post_ops, "dnnl_primitive_attr_set_post_ops");
  GLIP_DNNL_RESOLVE(post_ops_create, "dnnl_post_ops_create");
  GLIP_DNNL_RESOLVE(post_ops_destroy, "dnnl_post_ops_destroy");
  GLIP_DNNL_RESOLVE(post_ops_append_sum, "dnnl_post_ops_append_sum");
  GLIP_DNNL_RESOLVE(post_ops_append_eltwise, "dnnl_post_ops_append_eltwise");
  GLIP_DNNL_RESOLVE(primitive_desc_create, "dnnl_primitive_desc_create");
  GLIP_DNNL_RESOLVE(reorder_primitive_desc_create, "dnnl_reorder_primitive_desc_create");
  GLIP_DNNL_RESOLVE(primitive_desc_query, "dnnl_primitive_desc_query");
  GLIP_DNNL_RESOLVE(primitive_desc_query_md, "dnnl_primitive_desc_query_md");
  GLIP_DNNL_RESOLVE(primitive_desc_destroy, "dnnl_primitive_desc_destroy");
  GLIP_DNNL_RESOLVE(primitive_create, "dnnl_primitive_create");
  GLIP_DNNL_RESOLVE(primitive_execute, "dnnl_primitive_execute");
  GLIP_DNNL_RESOLVE(primitive_destroy, "dnnl_primitive_destroy");
  // Found among the library's dependencies when it runs on OpenMP; optional.
  *(void **)&api->omp_get_max_threads = dlsym(library, "omp_get_max_threads");
  return NULL;
}

int glip_dnnl_openmp_loaded(void) {
  void *library = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!library) return 0;
  dlclose(library);
  return 1;
}
