import { dawnFlagsFor, UNCHECKED_DAWN_TOGGLES } from "../lib/backend";

// WebGPU's checks for untrusted shaders (lib/backend.ts, webgpuChecks): which Dawn flags each
// setting gives the `webgpu` package. "on" is the default: tfjs's own kernels count on them
// (bench/unchecked-nan.ts).

describe("dawnFlagsFor", () => {
  test('"off" turns on Dawn\'s toggles that drop the bounds clamps and the zeroing of workgroup memory', () => {
    expect(UNCHECKED_DAWN_TOGGLES).toEqual(["disable_robustness", "disable_workgroup_init"]);
    expect(dawnFlagsFor("off")).toEqual(["enable-dawn-features=disable_robustness,disable_workgroup_init"]);
  });

  test('"on" passes the caller\'s flags alone', () => {
    expect(dawnFlagsFor("on")).toEqual([]);
    expect(dawnFlagsFor("on", ["disable-dawn-features=timestamp_quantization"])).toEqual(["disable-dawn-features=timestamp_quantization"]);
  });

  test("the caller's own toggles join one enable-dawn-features flag (Dawn keeps a repeated flag's last value), once each", () => {
    const flags = dawnFlagsFor("off", ["enable-dawn-features=skip_validation,disable_robustness", "disable-dawn-features=timestamp_quantization"]);
    expect(flags).toEqual(["disable-dawn-features=timestamp_quantization", "enable-dawn-features=disable_robustness,disable_workgroup_init,skip_validation"]);
  });

  test("a setting other than on or off is an error that names it", () => {
    expect(() => dawnFlagsFor("of" as "off")).toThrow('webgpuChecks (or LORA_WEBGPU_CHECKS) is "of": choose "on" or "off"');
  });
});
