// Open MPI through pkg-config `ompi-c` (Debian libopenmpi-dev). Swift imports the MPI functions but not the
// constants: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE and MPI_BYTE are macros over Open MPI's globals, so
// these accessors hand them over.
#include <mpi.h>

static inline MPI_Comm glip_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype glip_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype glip_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op glip_mpi_sum(void) { return MPI_SUM; }
static inline void *glip_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int glip_mpi_success(void) { return MPI_SUCCESS; }
static inline int glip_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
