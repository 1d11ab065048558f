/* Item sizes of Python's array/ctypes typecodes, as CPython maps them to C
 * types on this platform (multiprocessing.sharedctypes.typecode_to_type). */
#include "internal.h"

size_t mproc_typesize(char typecode)
{
    switch (typecode) {
    case 'c': return sizeof(char);
    case 'b': return sizeof(signed char);
    case 'B': return sizeof(unsigned char);
    case 'h': return sizeof(short);
    case 'H': return sizeof(unsigned short);
    case 'i': return sizeof(int);
    case 'I': return sizeof(unsigned int);
    case 'l': return sizeof(long);
    case 'L': return sizeof(unsigned long);
    case 'q': return sizeof(long long);
    case 'Q': return sizeof(unsigned long long);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    default:  return 0;
    }
}
