self.onmessage=()=>{throw new Error("ReaderViewer: the compute worker is not bundled")};
