/* enclaver: EIF writer/reader (filled in by the EIF work). */
#ifndef ENCLAVER_EIF_H
#define ENCLAVER_EIF_H
#endif
