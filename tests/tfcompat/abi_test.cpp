// The header's ABI against TensorFlow's published C API: enum numbers (TF_DataType follows
// TensorFlow's DataType protocol buffer enum, TF_Code its error codes) and the layouts of the
// structs programs allocate themselves, as TensorFlow's c_api.h defines them (LP64).
#include <gtest/gtest.h>

#include <cstddef>

#include "tensorflow/c/c_api.h"

TEST(TfCApiAbi, DataTypeNumbersAreTensorFlows) {
  const std::pair<TF_DataType, int> published[] = {
      {TF_FLOAT, 1},      {TF_DOUBLE, 2},   {TF_INT32, 3},    {TF_UINT8, 4},      {TF_INT16, 5},     {TF_INT8, 6},
      {TF_STRING, 7},     {TF_COMPLEX64, 8}, {TF_COMPLEX, 8}, {TF_INT64, 9},      {TF_BOOL, 10},     {TF_QINT8, 11},
      {TF_QUINT8, 12},    {TF_QINT32, 13},  {TF_BFLOAT16, 14}, {TF_QINT16, 15},    {TF_QUINT16, 16},  {TF_UINT16, 17},
      {TF_COMPLEX128, 18}, {TF_HALF, 19},   {TF_RESOURCE, 20}, {TF_VARIANT, 21},   {TF_UINT32, 22},   {TF_UINT64, 23}};
  for (const auto& [got, want] : published) EXPECT_EQ(static_cast<int>(got), want);
  EXPECT_EQ(TF_DataTypeSize(TF_FLOAT), 4u);
  EXPECT_EQ(TF_DataTypeSize(TF_INT64), 8u);
  EXPECT_EQ(TF_DataTypeSize(TF_HALF), 2u);
  EXPECT_EQ(TF_DataTypeSize(TF_BOOL), 1u);
  EXPECT_EQ(TF_DataTypeSize(TF_STRING), 0u);
}

TEST(TfCApiAbi, CodeNumbersAreTensorFlows) {
  const std::pair<TF_Code, int> published[] = {
      {TF_OK, 0},           {TF_CANCELLED, 1},          {TF_UNKNOWN, 2},          {TF_INVALID_ARGUMENT, 3},
      {TF_DEADLINE_EXCEEDED, 4}, {TF_NOT_FOUND, 5},     {TF_ALREADY_EXISTS, 6},   {TF_PERMISSION_DENIED, 7},
      {TF_RESOURCE_EXHAUSTED, 8}, {TF_FAILED_PRECONDITION, 9}, {TF_ABORTED, 10},  {TF_OUT_OF_RANGE, 11},
      {TF_UNIMPLEMENTED, 12}, {TF_INTERNAL, 13},        {TF_UNAVAILABLE, 14},     {TF_DATA_LOSS, 15},
      {TF_UNAUTHENTICATED, 16}};
  for (const auto& [got, want] : published) EXPECT_EQ(static_cast<int>(got), want);
  const std::pair<TF_AttrType, int> attrs[] = {{TF_ATTR_STRING, 0}, {TF_ATTR_INT, 1},    {TF_ATTR_FLOAT, 2},
                                               {TF_ATTR_BOOL, 3},   {TF_ATTR_TYPE, 4},   {TF_ATTR_SHAPE, 5},
                                               {TF_ATTR_TENSOR, 6}, {TF_ATTR_PLACEHOLDER, 7}, {TF_ATTR_FUNC, 8}};
  for (const auto& [got, want] : attrs) EXPECT_EQ(static_cast<int>(got), want);
}

TEST(TfCApiAbi, StructLayoutsAreTensorFlows) {
  static_assert(sizeof(void*) == 8, "the layouts below are LP64's");
  EXPECT_EQ(sizeof(TF_Output), 16u);
  EXPECT_EQ(offsetof(TF_Output, oper), 0u);
  EXPECT_EQ(offsetof(TF_Output, index), 8u);
  EXPECT_EQ(sizeof(TF_Input), 16u);
  EXPECT_EQ(offsetof(TF_Input, index), 8u);
  EXPECT_EQ(sizeof(TF_Buffer), 24u);
  EXPECT_EQ(offsetof(TF_Buffer, data), 0u);
  EXPECT_EQ(offsetof(TF_Buffer, length), 8u);
  EXPECT_EQ(offsetof(TF_Buffer, data_deallocator), 16u);
  EXPECT_EQ(sizeof(TF_AttrMetadata), 32u);
  EXPECT_EQ(offsetof(TF_AttrMetadata, list_size), 8u);
  EXPECT_EQ(offsetof(TF_AttrMetadata, type), 16u);
  EXPECT_EQ(offsetof(TF_AttrMetadata, total_size), 24u);
  EXPECT_EQ(sizeof(TF_StringView), 16u);
  EXPECT_EQ(sizeof(TF_TString), 24u);
  EXPECT_EQ(sizeof(TF_WhileParams), 72u);
  EXPECT_EQ(offsetof(TF_WhileParams, cond_output), 24u);
  EXPECT_EQ(offsetof(TF_WhileParams, name), 64u);
  EXPECT_EQ(sizeof(TF_DataType), sizeof(int));
  EXPECT_EQ(sizeof(TF_Code), sizeof(int));
}
