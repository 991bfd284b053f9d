"""List the CUDA and Vulkan devices of this machine; prints one JSON object on stdout.

Run as a child process by :mod:`diffrender.engine` (``python _device_probe.py``) before it picks
a device for ``auto``: a broken driver can then only fail the probe, not the caller. Standard
library only (``ctypes`` against the Vulkan loader ``libvulkan.so.1`` / ``vulkan-1.dll`` and the
CUDA driver ``libcuda.so.1`` / ``nvcuda.dll``), so it needs neither Taichi nor ``vulkaninfo``.

Output::

    {"vulkan": {"devices": [{"index", "name", "type", "api", "float64", "int64",
                             "float64_atomic_add", "max_storage_buffer_bytes",
                             "device_local_bytes"}, ...], "error": str | null},
     "cuda": {"devices": [{"index", "name", "memory_bytes"}, ...], "error": str | null}}

``type`` is Vulkan's ``VkPhysicalDeviceType``: ``other``, ``integrated``, ``discrete``,
``virtual`` or ``cpu`` (a software rasteriser such as lavapipe/llvmpipe or SwiftShader).
``index`` is the position in ``vkEnumeratePhysicalDevices``, the number Taichi's
``TI_VISIBLE_DEVICE`` takes.
"""
from __future__ import annotations

import ctypes
import json
import sys

VK_TYPES = ("other", "integrated", "discrete", "virtual", "cpu")
VK_SUCCESS = 0
VK_STRUCTURE_TYPE_APPLICATION_INFO = 0
VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO = 1
VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2 = 1000059000
VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT = 1000260000
VK_API_VERSION_1_1 = (1 << 22) | (1 << 12)
VK_MEMORY_HEAP_DEVICE_LOCAL_BIT = 1
VK_MAX_PHYSICAL_DEVICE_NAME_SIZE = 256
VK_UUID_SIZE = 16
N_FEATURES = 55                  # VkBool32 members of VkPhysicalDeviceFeatures
FEATURE_SHADER_FLOAT64 = 39      # their positions (Vulkan 1.0 spec order)
FEATURE_SHADER_INT64 = 40
LIMIT_MAX_STORAGE_BUFFER_RANGE = 7  # eighth uint32 of VkPhysicalDeviceLimits
PROPERTIES_BYTES = 1024          # >= sizeof(VkPhysicalDeviceProperties) (824 on x86_64)
CUDA_NAME_BYTES = 256


class _AppInfo(ctypes.Structure):
    _fields_ = [("sType", ctypes.c_uint32), ("pNext", ctypes.c_void_p),
                ("pApplicationName", ctypes.c_char_p), ("applicationVersion", ctypes.c_uint32),
                ("pEngineName", ctypes.c_char_p), ("engineVersion", ctypes.c_uint32),
                ("apiVersion", ctypes.c_uint32)]


class _InstanceInfo(ctypes.Structure):
    _fields_ = [("sType", ctypes.c_uint32), ("pNext", ctypes.c_void_p),
                ("flags", ctypes.c_uint32), ("pApplicationInfo", ctypes.POINTER(_AppInfo)),
                ("enabledLayerCount", ctypes.c_uint32), ("ppEnabledLayerNames", ctypes.c_void_p),
                ("enabledExtensionCount", ctypes.c_uint32),
                ("ppEnabledExtensionNames", ctypes.c_void_p)]


class _AtomicFloatFeatures(ctypes.Structure):
    _fields_ = [("sType", ctypes.c_uint32), ("pNext", ctypes.c_void_p),
                ("flags", ctypes.c_uint32 * 12)]  # shaderBufferFloat32Atomics, ... (12 VkBool32)


class _Features2(ctypes.Structure):
    _fields_ = [("sType", ctypes.c_uint32), ("pNext", ctypes.c_void_p),
                ("features", ctypes.c_uint32 * N_FEATURES)]


class _MemoryHeap(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint64), ("flags", ctypes.c_uint32)]


class _MemoryType(ctypes.Structure):
    _fields_ = [("propertyFlags", ctypes.c_uint32), ("heapIndex", ctypes.c_uint32)]


class _MemoryProperties(ctypes.Structure):
    _fields_ = [("memoryTypeCount", ctypes.c_uint32), ("memoryTypes", _MemoryType * 32),
                ("memoryHeapCount", ctypes.c_uint32), ("memoryHeaps", _MemoryHeap * 16)]


class _PropertiesHead(ctypes.Structure):
    """The leading members of VkPhysicalDeviceProperties, then the limits' first words."""
    _fields_ = [("apiVersion", ctypes.c_uint32), ("driverVersion", ctypes.c_uint32),
                ("vendorID", ctypes.c_uint32), ("deviceID", ctypes.c_uint32),
                ("deviceType", ctypes.c_uint32),
                ("deviceName", ctypes.c_char * VK_MAX_PHYSICAL_DEVICE_NAME_SIZE),
                ("pipelineCacheUUID", ctypes.c_uint8 * VK_UUID_SIZE),
                ("_pad", ctypes.c_uint32),  # VkPhysicalDeviceLimits starts 8-aligned (296)
                ("limits_u32", ctypes.c_uint32 * 8)]


def _load(names):
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    raise OSError(f"{names[0]} not found")


def _vulkan_lib():
    if sys.platform == "win32":
        return _load(["vulkan-1.dll"])
    if sys.platform == "darwin":
        return _load(["libvulkan.1.dylib", "libMoltenVK.dylib"])
    return _load(["libvulkan.so.1", "libvulkan.so"])


def probe_vulkan() -> dict:
    try:
        vk = _vulkan_lib()
    except OSError as exc:
        return {"devices": [], "error": f"no Vulkan loader ({exc})"}
    app = _AppInfo(VK_STRUCTURE_TYPE_APPLICATION_INFO, None, b"diffrender-probe", 1, b"none", 1,
                   VK_API_VERSION_1_1)
    info = _InstanceInfo(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, None, 0, ctypes.pointer(app),
                         0, None, 0, None)
    instance = ctypes.c_void_p()
    vk.vkCreateInstance.argtypes = [ctypes.POINTER(_InstanceInfo), ctypes.c_void_p,
                                    ctypes.POINTER(ctypes.c_void_p)]
    vk.vkCreateInstance.restype = ctypes.c_int32
    res = vk.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance))
    if res != VK_SUCCESS:
        return {"devices": [], "error": f"vkCreateInstance failed (VkResult {res}): no Vulkan driver"}
    try:
        vk.vkEnumeratePhysicalDevices.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32),
                                                  ctypes.c_void_p]
        vk.vkEnumeratePhysicalDevices.restype = ctypes.c_int32
        count = ctypes.c_uint32(0)
        res = vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        if res != VK_SUCCESS:
            return {"devices": [], "error": f"vkEnumeratePhysicalDevices failed (VkResult {res})"}
        handles = (ctypes.c_void_p * max(1, count.value))()
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles)
        for fn in ("vkGetPhysicalDeviceProperties", "vkGetPhysicalDeviceFeatures2",
                   "vkGetPhysicalDeviceMemoryProperties"):
            getattr(vk, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            getattr(vk, fn).restype = None
        devices = []
        for i in range(count.value):
            buf = ctypes.create_string_buffer(PROPERTIES_BYTES)
            vk.vkGetPhysicalDeviceProperties(handles[i], buf)
            head = _PropertiesHead.from_buffer(buf)
            api = head.apiVersion
            dev = {"index": i, "name": head.deviceName.decode("utf-8", "replace"),
                   "type": VK_TYPES[head.deviceType] if head.deviceType < len(VK_TYPES) else "other",
                   "api": f"{(api >> 22) & 0x7F}.{(api >> 12) & 0x3FF}.{api & 0xFFF}",
                   "max_storage_buffer_bytes": int(head.limits_u32[LIMIT_MAX_STORAGE_BUFFER_RANGE])}
            atomic = _AtomicFloatFeatures(
                VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT, None)
            feats = _Features2(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                               ctypes.cast(ctypes.pointer(atomic), ctypes.c_void_p))
            if api >= VK_API_VERSION_1_1:
                vk.vkGetPhysicalDeviceFeatures2(handles[i], ctypes.byref(feats))
            else:  # 1.0 device: the core features only
                vk.vkGetPhysicalDeviceFeatures.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
                vk.vkGetPhysicalDeviceFeatures(handles[i], ctypes.byref(feats, 16))
            dev["float64"] = bool(feats.features[FEATURE_SHADER_FLOAT64])
            dev["int64"] = bool(feats.features[FEATURE_SHADER_INT64])
            # shaderBufferFloat64AtomicAdd is the fourth flag of the atomic-float struct
            dev["float64_atomic_add"] = bool(atomic.flags[3])
            mem = _MemoryProperties()
            vk.vkGetPhysicalDeviceMemoryProperties(handles[i], ctypes.byref(mem))
            dev["device_local_bytes"] = int(max(
                [mem.memoryHeaps[h].size for h in range(min(16, mem.memoryHeapCount))
                 if mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT] or [0]))
            devices.append(dev)
        return {"devices": devices, "error": None}
    finally:
        vk.vkDestroyInstance.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        vk.vkDestroyInstance(instance, None)


def probe_cuda() -> dict:
    try:
        cu = _load(["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"])
    except OSError as exc:
        return {"devices": [], "error": f"no CUDA driver ({exc})"}
    res = cu.cuInit(0)
    if res != 0:
        return {"devices": [], "error": f"cuInit failed (CUresult {res})"}
    count = ctypes.c_int(0)
    res = cu.cuDeviceGetCount(ctypes.byref(count))
    if res != 0:
        return {"devices": [], "error": f"cuDeviceGetCount failed (CUresult {res})"}
    devices = []
    for i in range(count.value):
        handle = ctypes.c_int(0)
        cu.cuDeviceGet(ctypes.byref(handle), i)
        name = ctypes.create_string_buffer(CUDA_NAME_BYTES)
        cu.cuDeviceGetName(name, CUDA_NAME_BYTES, handle)
        mem = ctypes.c_size_t(0)
        cu.cuDeviceTotalMem_v2(ctypes.byref(mem), handle)
        devices.append({"index": i, "name": name.value.decode("utf-8", "replace"),
                        "memory_bytes": int(mem.value)})
    return {"devices": devices, "error": None if devices else "the CUDA driver lists no device"}


def main() -> int:
    out = {}
    for key, fn in (("cuda", probe_cuda), ("vulkan", probe_vulkan)):
        try:
            out[key] = fn()
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which falls back
            out[key] = {"devices": [], "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
