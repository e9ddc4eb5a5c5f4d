declare module '3dmol/build/3Dmol-min.js' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const m: any;
  export default m;
}
