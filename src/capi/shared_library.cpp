// libkiln.so is libkiln.a whole (the C API of kiln_c.cpp and the C++ API), linked with the
// version script exports.map. CMake wants a source of the library's own: this one.
