"""The deployment files (deploy/) against what ModelMesh Serving and KServe document and what
kiln accepts: each YAML parses; every field is one the ServingRuntime / InferenceService
references name; ModelMesh's reserved names and ports are avoided; the endpoints, the
InferenceServices' formats and runtimes match their ServingRuntimes; each argument given to
kiln is one `kiln serve --help` lists; the ModelMesh runtime's model format is the one
`kiln inspect --json` advertises for the demo U-Net; the Containerfile installs kiln's .deb.

    KILN=build/kiln python3 -m unittest -v tests/deploy/check_manifests.py
"""
import json
import os
import re
import subprocess
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KILN = os.environ.get("KILN", str(ROOT / "build" / "kiln"))

# Field names as ModelMesh Serving's custom-runtime guide and KServe's ServingRuntime and
# InferenceService references list them (serving.kserve.io v1alpha1 / v1beta1).
SERVING_RUNTIME_SPEC = {
    "supportedModelFormats", "multiModel", "grpcEndpoint", "grpcDataEndpoint", "containers", "protocolVersions",
    "builtInAdapter", "storageHelper", "disabled", "replicas", "nodeSelector", "affinity", "tolerations", "volumes",
    "imagePullSecrets", "annotations", "labels",
}
MODEL_FORMAT = {"name", "version", "autoSelect", "priority"}
CONTAINER = {"name", "image", "args", "command", "env", "ports", "resources", "volumeMounts", "imagePullPolicy",
             "workingDir", "securityContext"}
PREDICTOR_MODEL = {"modelFormat", "runtime", "storageUri", "storage", "protocolVersion", "resources", "args", "env"}
STORAGE = {"key", "path", "parameters", "schemaPath"}
PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}
# ModelMesh's own containers and ports in a runtime's pod.
MM_CONTAINERS = {"mm", "rest-proxy", "puller"}
MM_PORTS = {8080, 8085, 8089, 8090} | set(range(11881, 11900))


def load(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    assert len(docs) == 1, f"{path}: one document expected"
    return docs[0]


def unknown(fields, allowed):
    return sorted(set(fields) - allowed)


def serve_flags():
    text = subprocess.run([KILN, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9_-]*)", text))


def flag_port(args, flag):
    for a in args:
        if a.startswith(flag + "="):
            return int(a.rsplit(":", 1)[1])
    return None


class Manifests(unittest.TestCase):
    def runtime(self, path):
        r = load(path)
        self.assertEqual(r["apiVersion"], "serving.kserve.io/v1alpha1")
        self.assertEqual(r["kind"], "ServingRuntime")
        self.assertEqual(unknown(r["spec"], SERVING_RUNTIME_SPEC), [], path)
        for f in r["spec"]["supportedModelFormats"]:
            self.assertEqual(unknown(f, MODEL_FORMAT), [], path)
            self.assertIsInstance(f.get("version", ""), str, "versions are strings")
        self.assertTrue(set(r["spec"].get("protocolVersions", [])) <= PROTOCOLS, path)
        flags = serve_flags()
        for c in r["spec"]["containers"]:
            self.assertEqual(unknown(c, CONTAINER), [], path)
            self.assertEqual(c["args"][0], "serve")
            for a in c["args"][1:]:
                self.assertIn(a.split("=")[0], flags, f"{path}: kiln serve has no {a.split('=')[0]}")
        return r

    def isvc(self, path):
        s = load(path)
        self.assertEqual(s["apiVersion"], "serving.kserve.io/v1beta1")
        self.assertEqual(s["kind"], "InferenceService")
        self.assertEqual(list(s["spec"]), ["predictor"])
        model = s["spec"]["predictor"]["model"]
        self.assertEqual(unknown(model, PREDICTOR_MODEL), [], path)
        self.assertEqual(unknown(model.get("storage", {}), STORAGE), [], path)
        self.assertTrue("storageUri" in model or "storage" in model, f"{path}: where the model is")
        return s

    def test_modelmesh(self):
        rt = self.runtime(DEPLOY / "modelmesh/serving-runtime.yaml")
        spec = rt["spec"]
        self.assertTrue(spec["multiModel"])
        self.assertNotIn("builtInAdapter", spec, "kiln implements the SPI itself")
        for key in ("grpcEndpoint", "grpcDataEndpoint"):
            self.assertRegex(spec[key], r"^port:\d+$")
        port = int(spec["grpcEndpoint"].split(":")[1])
        self.assertNotIn(port, MM_PORTS)
        for c in spec["containers"]:
            self.assertNotIn(c["name"], MM_CONTAINERS)
            self.assertFalse(c["name"].startswith("mm-"))
            self.assertNotIn("readinessProbe", c)
            self.assertNotIn("lifecycle", c)
            self.assertIn("--model-runtime", c["args"])
            self.assertEqual(flag_port(c["args"], "--grpc"), port, "kiln listens where ModelMesh calls")
            self.assertNotIn(flag_port(c["args"], "--http"), MM_PORTS)
        # The format is the demo U-Net's architecture, as kiln advertises it.
        info = json.loads(subprocess.run([KILN, "inspect", "--json", str(ROOT / "models/demo/unet.onnx")],
                                         capture_output=True, text=True, check=True).stdout)
        formats = [f["name"] for f in spec["supportedModelFormats"] if f.get("autoSelect")]
        self.assertEqual(formats, [info["model_format"]])
        self.assertIn(info["fingerprint"], rt["metadata"]["name"])
        s = self.isvc(DEPLOY / "modelmesh/inference-service.yaml")
        self.assertEqual(s["metadata"]["annotations"]["serving.kserve.io/deploymentMode"], "ModelMesh")
        self.assertIn(s["spec"]["predictor"]["model"]["modelFormat"]["name"], formats,
                      "ModelMesh places it on the kiln runtime by its format")

    def test_kserve(self):
        rt = self.runtime(DEPLOY / "kserve/serving-runtime.yaml")
        spec = rt["spec"]
        self.assertFalse(spec.get("multiModel", False))
        (c,) = spec["containers"]
        self.assertEqual(c["name"], "kserve-container")
        self.assertIn("--model_dir=/mnt/models", c["args"], "where KServe's storage initializer puts the model")
        self.assertIn("--model_name={{.Name}}", c["args"])
        self.assertEqual(flag_port(c["args"], "--http"), c["ports"][0]["containerPort"])
        s = self.isvc(DEPLOY / "kserve/inference-service.yaml")
        model = s["spec"]["predictor"]["model"]
        self.assertEqual(model["runtime"], rt["metadata"]["name"])
        self.assertIn(model["modelFormat"]["name"], [f["name"] for f in spec["supportedModelFormats"]])
        self.assertIn(model["protocolVersion"], spec["protocolVersions"])

    def test_containerfile(self):
        text = (DEPLOY / "Containerfile").read_text()
        self.assertRegex(text, r"(?m)^FROM debian:12")
        self.assertIn("kiln_*_amd64.deb", text)
        self.assertRegex(text, r'(?m)^ENTRYPOINT \["kiln"\]')
        self.assertRegex((DEPLOY / "image.sh").read_text(), r"(?s)mmdebstrap .*bookworm")


if __name__ == "__main__":
    unittest.main()
