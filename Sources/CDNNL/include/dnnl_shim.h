// The few entry points of oneDNN 2.x's C API (libdnnl.so.2) that the convolution, pooling and matrix-product backends
// call, declared here from the library's documented interface so that building needs neither its headers nor the
// library: it is opened at run time (glip_dnnl_load), and a process without it runs our own kernels.
//
// Enumerations are passed as int, as the C ABI passes them. Memory and operation descriptors are filled and read
// only by the library: they live in opaque storage at least as large and as aligned as the library's structures
// (oneDNN 2.6's are 696 and 5976 bytes), so no field layout is declared.
#ifndef GLIP_DNNL_SHIM_H
#define GLIP_DNNL_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define GLIP_DNNL_MAX_DIMS 12

typedef int64_t glip_dnnl_dim;
/// Engines, streams, primitive descriptors, primitives, memory objects: handles the library owns.
typedef struct glip_dnnl_object *glip_dnnl_handle;

/// Memory and operation descriptors, declared incomplete: callers allocate GLIP_DNNL_*_DESC_BYTES bytes aligned to
/// GLIP_DNNL_DESC_ALIGNMENT for each, and only the library reads or writes them.
typedef struct glip_dnnl_memory_desc glip_dnnl_memory_desc;
typedef struct glip_dnnl_op_desc glip_dnnl_op_desc;

enum {
  GLIP_DNNL_MEMORY_DESC_BYTES = 4096,
  GLIP_DNNL_OP_DESC_BYTES = 32768,
  GLIP_DNNL_DESC_ALIGNMENT = 64,
};

typedef struct {
  int arg;
  glip_dnnl_handle memory;
} glip_dnnl_exec_arg;

typedef struct {
  int major, minor, patch;
  const char *hash;
  unsigned cpu_runtime, gpu_runtime;
} glip_dnnl_version_info;

enum {
  GLIP_DNNL_SUCCESS = 0,
  GLIP_DNNL_F32 = 3,
  GLIP_DNNL_ENGINE_CPU = 1,
  GLIP_DNNL_STREAM_DEFAULT = 1,
  GLIP_DNNL_TAG_ANY = 1,
  GLIP_DNNL_TAG_A = 2,
  GLIP_DNNL_TAG_ABCD = 5,
  GLIP_DNNL_TAG_ABCDE = 7,
  GLIP_DNNL_FORWARD_TRAINING = 64,
  GLIP_DNNL_FORWARD_INFERENCE = 96,
  GLIP_DNNL_CONVOLUTION_DIRECT = 1,
  GLIP_DNNL_QUERY_IMPL_INFO_STR = 8,
  GLIP_DNNL_QUERY_EXEC_ARG_MD = 255,
  GLIP_DNNL_ARG_SRC = 1,
  GLIP_DNNL_ARG_DST = 17,
  GLIP_DNNL_ARG_WEIGHTS = 33,
  GLIP_DNNL_ARG_BIAS = 41,
  GLIP_DNNL_ARG_DIFF_SRC = 129,
  GLIP_DNNL_ARG_DIFF_DST = 145,
  GLIP_DNNL_ARG_DIFF_WEIGHTS = 161,
  GLIP_DNNL_ARG_DIFF_BIAS = 169,
  GLIP_DNNL_CPU_RUNTIME_OMP = 2,
  GLIP_DNNL_ELTWISE_RELU = 0x1f,
  GLIP_DNNL_ELTWISE_CLIP = 0xff,
  GLIP_DNNL_ELTWISE_GELU_ERF = 0x30,
  GLIP_DNNL_POOLING_MAX = 0x1ff,
};

typedef struct {
  const glip_dnnl_version_info *(*version)(void);
  int (*engine_create)(glip_dnnl_handle *engine, int kind, size_t index);
  int (*stream_create)(glip_dnnl_handle *stream, glip_dnnl_handle engine, unsigned flags);
  int (*stream_wait)(glip_dnnl_handle stream);
  int (*memory_desc_init_by_tag)(
    glip_dnnl_memory_desc *desc, int ndims, const glip_dnnl_dim *dims, int data_type, int tag);
  int (*memory_desc_init_by_strides)(
    glip_dnnl_memory_desc *desc, int ndims, const glip_dnnl_dim *dims, int data_type, const glip_dnnl_dim *strides);
  int (*memory_desc_reshape)(
    glip_dnnl_memory_desc *out, const glip_dnnl_memory_desc *in, int ndims, const glip_dnnl_dim *dims);
  int (*memory_desc_equal)(const glip_dnnl_memory_desc *lhs, const glip_dnnl_memory_desc *rhs);
  size_t (*memory_desc_get_size)(const glip_dnnl_memory_desc *desc);
  int (*memory_create)(
    glip_dnnl_handle *memory, const glip_dnnl_memory_desc *desc, glip_dnnl_handle engine, void *handle);
  int (*memory_set_data_handle)(glip_dnnl_handle memory, void *handle);
  int (*memory_destroy)(glip_dnnl_handle memory);
  int (*convolution_forward_desc_init)(
    glip_dnnl_op_desc *desc, int prop_kind, int alg_kind, const glip_dnnl_memory_desc *src,
    const glip_dnnl_memory_desc *weights, const glip_dnnl_memory_desc *bias, const glip_dnnl_memory_desc *dst,
    const glip_dnnl_dim *strides, const glip_dnnl_dim *dilates, const glip_dnnl_dim *padding_l,
    const glip_dnnl_dim *padding_r);
  int (*convolution_backward_data_desc_init)(
    glip_dnnl_op_desc *desc, int alg_kind, const glip_dnnl_memory_desc *diff_src,
    const glip_dnnl_memory_desc *weights, const glip_dnnl_memory_desc *diff_dst, const glip_dnnl_dim *strides,
    const glip_dnnl_dim *dilates, const glip_dnnl_dim *padding_l, const glip_dnnl_dim *padding_r);
  int (*convolution_backward_weights_desc_init)(
    glip_dnnl_op_desc *desc, int alg_kind, const glip_dnnl_memory_desc *src,
    const glip_dnnl_memory_desc *diff_weights, const glip_dnnl_memory_desc *diff_bias,
    const glip_dnnl_memory_desc *diff_dst, const glip_dnnl_dim *strides, const glip_dnnl_dim *dilates,
    const glip_dnnl_dim *padding_l, const glip_dnnl_dim *padding_r);
  int (*pooling_forward_desc_init)(
    glip_dnnl_op_desc *desc, int prop_kind, int alg_kind, const glip_dnnl_memory_desc *src,
    const glip_dnnl_memory_desc *dst, const glip_dnnl_dim *strides, const glip_dnnl_dim *kernel,
    const glip_dnnl_dim *padding_l, const glip_dnnl_dim *padding_r);
  int (*matmul_desc_init)(
    glip_dnnl_op_desc *desc, const glip_dnnl_memory_desc *src, const glip_dnnl_memory_desc *weights,
    const glip_dnnl_memory_desc *bias, const glip_dnnl_memory_desc *dst);
  int (*primitive_attr_create)(glip_dnnl_handle *attr);
  int (*primitive_attr_destroy)(glip_dnnl_handle attr);
  int (*primitive_attr_set_post_ops)(glip_dnnl_handle attr, glip_dnnl_handle post_ops);
  int (*post_ops_create)(glip_dnnl_handle *post_ops);
  int (*post_ops_destroy)(glip_dnnl_handle post_ops);
  int (*post_ops_append_sum)(glip_dnnl_handle post_ops, float scale);
  int (*post_ops_append_eltwise)(glip_dnnl_handle post_ops, float scale, int alg_kind, float alpha, float beta);
  int (*primitive_desc_create)(
    glip_dnnl_handle *primitive_desc, const glip_dnnl_op_desc *op_desc, glip_dnnl_handle attr, glip_dnnl_handle engine,
    glip_dnnl_handle hint_forward);
  int (*reorder_primitive_desc_create)(
    glip_dnnl_handle *primitive_desc, const glip_dnnl_memory_desc *src, glip_dnnl_handle src_engine,
    const glip_dnnl_memory_desc *dst, glip_dnnl_handle dst_engine, glip_dnnl_handle attr);
  int (*primitive_desc_query)(glip_dnnl_handle primitive_desc, int what, int index, void *result);
  const glip_dnnl_memory_desc *(*primitive_desc_query_md)(glip_dnnl_handle primitive_desc, int what, int index);
  int (*primitive_desc_destroy)(glip_dnnl_handle primitive_desc);
  int (*primitive_create)(glip_dnnl_handle *primitive, glip_dnnl_handle primitive_desc);
  int (*primitive_execute)(glip_dnnl_handle primitive, glip_dnnl_handle stream, int nargs, const glip_dnnl_exec_arg *args);
  int (*primitive_destroy)(glip_dnnl_handle primitive);
  /// OpenMP's `omp_get_max_threads` when the library runs on OpenMP (NULL otherwise): the threads it will use.
  int (*omp_get_max_threads)(void);
} glip_dnnl_api;

/// Opens oneDNN 2.x (`path`, or the library's usual names when NULL) and resolves every entry point into `api`.
/// Returns NULL on success, or a message saying what was missing (the library stays closed then).
const char *glip_dnnl_load(const char *path, glip_dnnl_api *api);

/// Whether an OpenMP runtime (libgomp) is already in the process: it reads OMP_* variables only when it loads.
int glip_dnnl_openmp_loaded(void);

#endif
