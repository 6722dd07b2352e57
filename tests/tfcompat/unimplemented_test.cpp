// Every function the header declares exists in libtensorflow.so.2 (a program written for
// TensorFlow's C API links whatever it calls), and those kiln does not implement answer
// TF_UNIMPLEMENTED naming themselves, without crashing.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "tensorflow/c/c_api.h"
#include "tf_test_util.h"

TEST(TfCApiUnimplemented, EveryDeclaredFunctionIsExported) {
  std::set<std::string> declared;
  const std::regex decl(R"(TF_CAPI_EXPORT\s+extern\s+[^;]*?\b(TF_\w+)\s*\()");
  for (const auto& e : std::filesystem::directory_iterator(std::string(KILN_TF_HEADER_DIR) + "/tensorflow/c")) {
    const std::string text = tftest::read_file(e.path().string());
    for (std::sregex_iterator it(text.begin(), text.end(), decl), end; it != end; ++it) declared.insert((*it)[1]);
  }
  EXPECT_GT(declared.size(), 200u) << "TensorFlow's C API declares over 200 functions";
  void* lib = dlopen(KILN_TF_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  for (const std::string& f : declared) EXPECT_NE(dlsym(lib, f.c_str()), nullptr) << f << " is not exported";
  dlclose(lib);
}

TEST(TfCApiUnimplemented, FunctionsKilnLacksSayUnimplementedByName) {
  tftest::StatusPtr s(TF_NewStatus());
  auto expect = [&](const char* name) {
    EXPECT_EQ(TF_GetCode(s.get()), TF_UNIMPLEMENTED) << name;
    EXPECT_NE(std::string(TF_Message(s.get())).find(name), std::string::npos) << TF_Message(s.get());
    TF_SetStatus(s.get(), TF_OK, "");
  };
  TF_SessionOptions* so = TF_NewSessionOptions();
  const char* tags[] = {"serve"};
  EXPECT_EQ(TF_LoadSessionFromSavedModel(so, nullptr, "/nonexistent", tags, 1, nullptr, nullptr, s.get()), nullptr);
  expect("TF_LoadSessionFromSavedModel");
  EXPECT_EQ(TF_NewServer(nullptr, 0, s.get()), nullptr);
  expect("TF_NewServer");
  EXPECT_EQ(TF_LoadLibrary("libfoo.so", s.get()), nullptr);
  expect("TF_LoadLibrary");
  TF_Graph* g = TF_NewGraph();
  TF_Buffer* out = TF_NewBuffer();
  TF_GraphGetOpDef(g, "Conv2D", out, s.get());
  expect("TF_GraphGetOpDef");
  EXPECT_EQ(TF_NewOperation(g, "Const", "c"), nullptr);  // building graphs op by op is not kiln's
  EXPECT_EQ(TF_FinishOperation(nullptr, s.get()), nullptr);
  expect("TF_FinishOperation");
  TF_Output o{nullptr, 0};
  TF_WhileParams w = TF_NewWhile(g, &o, 1, s.get());
  EXPECT_EQ(w.cond_graph, nullptr);
  expect("TF_NewWhile");
  TF_AddGradients(g, &o, 1, &o, 1, nullptr, s.get(), &o);
  expect("TF_AddGradients");
  EXPECT_EQ(TF_SessionListDevices(nullptr, s.get()), nullptr);
  expect("TF_SessionListDevices");
  TF_DeleteBuffer(out);
  TF_DeleteGraph(g);
  TF_DeleteSessionOptions(so);
}
