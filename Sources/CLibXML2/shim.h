#include <libxml/xmlversion.h>
// Debian's libxml2 is built with ICU, whose headers clash with the copy bundled in Foundation. The
// only effect of the macro on the headers is two pointers at the end of xmlCharEncodingHandler,
// a struct SOS never touches.
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
