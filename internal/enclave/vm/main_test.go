package vm_test

import (
	"testing"

	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

const testdataPkg = "github.com/folio-ledger/folio/internal/enclave/vm/testdata/"
