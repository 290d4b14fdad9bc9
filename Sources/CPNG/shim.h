#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng reports errors by longjmp. These wrappers keep setjmp and longjmp inside C frames, so Swift code never sees
   a non-local jump; errors come back as a message. */

typedef struct {
  const unsigned char *data;
  size_t size;
  size_t offset;
} glip_png_reader;

static void glip_png_read_callback(png_structp png, png_bytep out, png_size_t count) {
  glip_png_reader *reader = (glip_png_reader *)png_get_io_ptr(png);
  if (reader->offset + count > reader->size) {
    png_error(png, "unexpected end of file (truncated PNG)");
  }
  memcpy(out, reader->data + reader->offset, count);
  reader->offset += count;
}

static void glip_png_error(png_structp png, png_const_charp message) {
  char *buffer = (char *)png_get_error_ptr(png);
  strncpy(buffer, message, 255);
  buffer[255] = 0;
  png_longjmp(png, 1);
}

static void glip_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

/* Refuses images of more than max_pixels pixels from the header, before any pixel memory is allocated.
   Decodes to 8-bit samples (16-bit samples keep their high byte; palettes and low bit depths expand; tRNS becomes
   alpha). *channels is 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA). Returns 0 on success; *pixels is malloc'd. */
static int glip_png_decode(const unsigned char *data, size_t size, size_t max_pixels, unsigned char **pixels,
                           int *width, int *height, int *channels, char *error /* 256 bytes */) {
  volatile png_structp png = NULL;
  volatile png_infop info = NULL;
  unsigned char *volatile output = NULL;
  png_bytep *volatile rows = NULL;
  glip_png_reader reader = {data, size, 0};
  error[0] = 0;
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    strcpy(error, "not a PNG file (bad signature)");
    return 1;
  }
  png = png_create_read_struct(PNG_LIBPNG_VER_STRING, error, glip_png_error, glip_png_warning);
  if (!png) { strcpy(error, "out of memory"); return 1; }
  info = png_create_info_struct(png);
  if (!info) { png_destroy_read_struct((png_structpp)&png, NULL, NULL); strcpy(error, "out of memory"); return 1; }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct((png_structpp)&png, (png_infopp)&info, NULL);
    free(output);
    free(rows);
    return 1;
  }
  png_set_read_fn(png, &reader, glip_png_read_callback);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
  if (w == 0 || h == 0) png_error(png, "image has no pixels");
  if ((unsigned long long)w * h > max_pixels || w > 0x7FFFFFFF || h > 0x7FFFFFFF) {
    snprintf(error, 256, "image is %lux%lu = %llu pixels, above the limit of %llu (GLIP_MAX_IMAGE_PIXELS)",
             (unsigned long)w, (unsigned long)h, (unsigned long long)w * h, (unsigned long long)max_pixels);
    png_destroy_read_struct((png_structpp)&png, (png_infopp)&info, NULL);
    return 1;
  }
  if (depth == 16) png_set_strip_16(png);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int count = png_get_channels(png, info);
  size_t stride = png_get_rowbytes(png, info);
  output = (unsigned char *)malloc(stride * h);
  rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
  if (!output || !rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; y++) rows[y] = output + y * stride;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct((png_structpp)&png, (png_infopp)&info, NULL);
  free(rows);
  *pixels = output;
  *width = (int)w;
  *height = (int)h;
  *channels = count;
  return 0;
}

typedef struct {
  unsigned char *data;
  size_t size;
  size_t capacity;
} glip_png_writer;

static void glip_png_write_callback(png_structp png, png_bytep bytes, png_size_t count) {
  glip_png_writer *writer = (glip_png_writer *)png_get_io_ptr(png);
  if (writer->size + count > writer->capacity) {
    size_t capacity = (writer->capacity + count) * 2;
    unsigned char *grown = (unsigned char *)realloc(writer->data, capacity);
    if (!grown) png_error(png, "out of memory");
    writer->data = grown;
    writer->capacity = capacity;
  }
  memcpy(writer->data + writer->size, bytes, count);
  writer->size += count;
}

static void glip_png_flush(png_structp png) { (void)png; }

/* Encodes 8-bit RGB (channels 3) or RGBA (4) pixels. Returns 0 on success; *encoded is malloc'd. */
static int glip_png_encode(const unsigned char *pixels, int width, int height, int channels, unsigned char **encoded,
                           size_t *size, char *error /* 256 bytes */) {
  volatile png_structp png = NULL;
  volatile png_infop info = NULL;
  glip_png_writer writer = {NULL, 0, 0};
  error[0] = 0;
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, glip_png_error, glip_png_warning);
  if (!png) { strcpy(error, "out of memory"); return 1; }
  info = png_create_info_struct(png);
  if (!info) { png_destroy_write_struct((png_structpp)&png, NULL); strcpy(error, "out of memory"); return 1; }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct((png_structpp)&png, (png_infopp)&info);
    free(writer.data);
    return 1;
  }
  png_set_write_fn(png, &writer, glip_png_write_callback, glip_png_flush);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
               channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
  png_write_end(png, NULL);
  png_destroy_write_struct((png_structpp)&png, (png_infopp)&info);
  *encoded = writer.data;
  *size = writer.size;
  return 0;
}
