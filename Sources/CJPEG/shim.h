#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* libjpeg reports errors through error_exit, which must not return. This wrapper longjmps back into the C frame that
   called setjmp, so Swift never sees the jump; the message comes back as text. */

typedef struct {
  struct jpeg_error_mgr manager;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} glip_jpeg_error;

static void glip_jpeg_error_exit(j_common_ptr info) {
  glip_jpeg_error *error = (glip_jpeg_error *)info->err;
  (*info->err->format_message)(info, error->message);
  longjmp(error->jump, 1);
}

/* Warnings are ignored, except a premature end of data: a truncated file is an error, as PIL reports it. */
static void glip_jpeg_emit(j_common_ptr info, int level) {
  if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) glip_jpeg_error_exit(info);
}

/* CMYK to RGB as Pillow converts it: each of R, G, B is (255 - K) scaled by (255 - C|M|Y) / 255, rounded as Pillow's
   MULDIV255. Adobe (Photoshop) files store the inks inverted; `inverted` undoes that first. */
static void glip_jpeg_cmyk_row(const unsigned char *cmyk, unsigned char *rgb, unsigned width, int inverted) {
  for (unsigned x = 0; x < width; x++) {
    const unsigned char *ink = cmyk + 4 * (size_t)x;
    int black = inverted ? ink[3] : 255 - ink[3];
    for (int c = 0; c < 3; c++) {
      int colour = inverted ? 255 - ink[c] : ink[c];
      int product = colour * black + 128;
      rgb[3 * (size_t)x + c] = (unsigned char)(black - (((product >> 8) + product) >> 8));
    }
  }
}

/* Decodes baseline or progressive, gray, colour or CMYK/YCCK JPEG to 8-bit RGB (libjpeg's default IDCT and
   upsampling, as PIL uses). CMYK is read as inverted when the file has an Adobe marker (Photoshop's convention; Pillow
   assumes it for every CMYK file). EXIF orientation is not applied here. Images of more than max_pixels pixels are refused from the header, before
   any pixel or coefficient memory is allocated. Returns 0 on success; *pixels is malloc'd. */
static int glip_jpeg_decode(const unsigned char *data, size_t size, size_t max_pixels, unsigned char **pixels,
                            int *width, int *height, char *message /* JMSG_LENGTH_MAX */) {
  struct jpeg_decompress_struct info;
  glip_jpeg_error error;
  unsigned char *volatile output = NULL;
  unsigned char *volatile inks = NULL;
  memset(&info, 0, sizeof(info));
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = glip_jpeg_error_exit;
  error.manager.emit_message = glip_jpeg_emit;
  message[0] = 0;
  if (setjmp(error.jump)) {
    strncpy(message, error.message, JMSG_LENGTH_MAX - 1);
    message[JMSG_LENGTH_MAX - 1] = 0;
    jpeg_destroy_decompress(&info);
    free(output);
    free(inks);
    return 1;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, (unsigned char *)data, (unsigned long)size);
  jpeg_read_header(&info, TRUE);
  if ((unsigned long long)info.image_width * info.image_height > max_pixels) {
    snprintf(message, JMSG_LENGTH_MAX, "image is %ux%u = %llu pixels, above the limit of %llu (GLIP_MAX_IMAGE_PIXELS)",
             (unsigned)info.image_width, (unsigned)info.image_height,
             (unsigned long long)info.image_width * info.image_height, (unsigned long long)max_pixels);
    jpeg_destroy_decompress(&info);
    return 1;
  }
  int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&info);
  size_t stride = (size_t)info.output_width * 3;
  output = (unsigned char *)malloc(stride * info.output_height);
  if (cmyk) inks = (unsigned char *)malloc((size_t)info.output_width * 4);
  if (!output || (cmyk && !inks)) {
    strcpy(error.message, "out of memory");
    longjmp(error.jump, 1);
  }
  while (info.output_scanline < info.output_height) {
    unsigned char *row = output + (size_t)info.output_scanline * stride;
    if (cmyk) {
      unsigned char *ink_row = inks;
      jpeg_read_scanlines(&info, &ink_row, 1);
      glip_jpeg_cmyk_row(inks, row, info.output_width, info.saw_Adobe_marker);
    } else {
      jpeg_read_scanlines(&info, &row, 1);
    }
  }
  free(inks);
  inks = NULL;
  jpeg_finish_decompress(&info);
  *width = (int)info.output_width;
  *height = (int)info.output_height;
  jpeg_destroy_decompress(&info);
  *pixels = output;
  return 0;
}
